"""Labelled synthetic Weibo-like streams for demos, tests and detection benchmarks.

``generate(name, start=..., seed=...)`` yields canonical post dicts (DESIGN.md) in
``created_at`` order, each with an extra ``"label": {"phase": "background" | "crisis" |
"decoy", "incident": id or None}`` so that a benchmark can score detectors against truth.

Scenarios:

* ``demo`` (about 5 minutes, played in real time by the ``simulated`` source): everyday
  chatter at 2-3 posts/s, then at +20 s a food-safety complaint that becomes a crisis:
  repost cascades, copies, a KOL joining at +70 s, angry posts ramping to ~30 posts/s by
  +140 s, then calming down.
* ``background``: ``days`` of chatter with a daily rhythm, nothing else.
* ``month`` (the default for ``days`` > 1): background plus crises of four shapes
  (``slow_burn``, ``sudden_viral``, ``kol``, ``rumour``) and three decoys (``promo``: a
  positive promotion burst with bot copies, ``positive_viral``: a feel-good post going
  viral, ``news``: unrelated news naming the brand), one every ~2.5 days, never overlapping.
* any one incident kind by its name: background plus that incident every ~3 days.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["CRISES", "DECOYS", "SCENARIOS", "generate"]

UTC8 = timezone(timedelta(hours=8))
CRISES = ("slow_burn", "sudden_viral", "kol", "rumour")
DECOYS = ("promo", "positive_viral", "news")
SCENARIOS = ("demo", "background", "month", *CRISES, *DECOYS)

PRODUCTS = ("酸奶", "牛奶", "椰汁", "咖啡", "豆浆", "果汁", "奶茶", "乳酸菌饮料", "燕麦奶", "气泡水")  # drinks: the texts say 喝
_BG_POSITIVE = (
    "今天买的{b}{p}真不错，口感很好[哈哈]",
    "{b}{p}新口味太好喝了，已经回购三次",
    "早餐标配：{b}{p}+面包，开心的一天",
    "{b}的{p}一直很稳定，推荐给大家",
    "囤了一箱{b}{p}，活动价挺划算的",
    "给孩子买的{b}{p}，他很喜欢[爱你]",
    "{b}门店店员服务很好，点赞",
    "下午茶来一杯{b}{p}，满足",
    "{b}{p}包装换新了，挺好看的",
    "健身后喝{b}{p}，口感清爽，值得",
    "终于抢到{b}限定款{p}了[太开心]",
    "{b}{p}yyds，谁懂啊",
)
_BG_NEUTRAL = (
    "{b}{p}有人喝过吗？想试试",
    "路过{b}门店，排队的人好多",
    "{b}{p}和别家的比哪个好？",
    "请问{b}{p}在哪里能买到",
    "超市里{b}{p}在搞活动，第二件半价",
    "{b}今年好像出了很多新品",
    "刚看到{b}的广告，拍得挺用心",
    "{b}{p}的保质期是多久来着",
    "室友买了一箱{b}{p}",
    "ACME {p} 到了，周末试试",
    "听说{b}要在我们这开新店了",
    "{b}官方旗舰店今晚有直播",
    "打卡{b}快闪店",
    "{b}{p}冰镇一下再喝",
)
_BG_NEGATIVE = (
    "{b}{p}涨价了，有点不划算",
    "这次的{b}{p}味道一般，有点失望",
    "{b}快递太慢了，等了一周",
    "{b}{p}包装有点漏，还好不严重",
    "{b}客服回复好慢，无语",
)
_BG_COMMENTS = ("转发微博", "同感", "哈哈哈", "马一下", "求链接", "确实不错", "+1", "我也想买", "666")

_FOOD_COMPLAINT = (
    "{b}{p}里喝出了异物！孩子喝完就上吐下泻，去医院查是急性肠胃炎，{b}客服到现在不理人，太恶心了[怒]"
)
_ANGRY = (
    "太恶心了，再也不买{b}了",
    "抵制{b}！黑心企业",
    "已经投诉12315了，{b}必须给个说法",
    "看完气死了，{b}赶紧出来道歉",
    "这也太吓人了，家里还有两箱{b}{p}",
    "心疼孩子[泪]，{b}必须赔偿",
    "{b}出来说清楚！食品安全不是小事",
    "难怪最近喝着{b}的味道不对",
    "扩散！大家别买{b}了",
    "市场监管部门赶紧调查{b}",
    "{b}就是垃圾，早就该曝光了",
    "我也喝过{b}{p}拉肚子，原来不是我一个人[怒]",
    "{b}的客服太恶劣了，一直踢皮球",
    "支持维权！{b}必须召回问题批次",
)
_REPOST_ANGRY = (
    "太恶心了",
    "扩散",
    "气死了[怒]",
    "抵制！",
    "心疼孩子",
    "必须严查",
    "再也不买了",
    "[怒][怒]",
    "转发微博",
    "这也太吓人了",
    "恶心",
    "垃圾企业",
)
_KOL_FOOD = "【关注】网友曝光{b}{p}喝出异物致儿童急性肠胃炎，{b}客服至今未回应。食品安全无小事，你还敢买吗？"
_SERVICE = (
    "{b}会员自动扣费，找客服退款拖了一个月，太差了",
    "{b}客服态度恶劣，问题不解决还挂电话[怒]",
    "买的{b}{p}过期了还在卖，要求退款被拒，投诉无门",
    "{b}售后就是个摆设，坑人",
    "{b}{p}质量越来越差，还涨价，失望",
    "被{b}自动续费坑了，大家注意取消",
    "投诉{b}三次了，没人管，只能找消协维权",
)
_RUMOUR = "网传{b}工厂用过期原料生产{p}，有员工爆料称质检报告造假，是真的吗？细思极恐"
_RUMOUR_REPOSTS = (
    "真的假的？",
    "细思极恐",
    "{b}出来辟谣啊",
    "不敢喝了",
    "坐等官方回应",
    "已经扔了家里的{p}",
    "太可怕了[吃惊]",
    "如果是真的就太恶心了",
    "蹲一个后续",
)
_KOL_SAFETY = "【曝光】{b}充电宝在家中充电时突然爆炸起火，网友家中被烧毁，{b}称'使用不当'。这种产品还敢用吗？"
_KOL_REPOSTS = (
    "太吓人了",
    "家里也有一个{b}的，赶紧扔了",
    "{b}必须召回！",
    "使用不当？甩锅！",
    "抵制{b}",
    "起火太可怕了[怒]",
    "转发微博",
    "已经投诉了",
    "不敢用了",
)
_PROMO_ROOT = "{b}新品{p}上市！转发+关注，抽10位送{p}礼盒[哈哈] 好喝不贵，快来试试"
_PROMO_REPOSTS = (
    "转发抽奖，求中奖[心]",
    "支持{b}！",
    "想要礼盒[爱你]",
    "好运来",
    "冲冲冲",
    "已关注，求锦鲤",
    "{b}新品一定好喝",
    "转发微博",
)
_POSITIVE_VIRAL = "暖心！{b}送货小哥暴雨中救起落水老人，自己却默默离开，好样的！[赞]"
_POSITIVE_REPOSTS = (
    "好样的[赞]",
    "为{b}小哥点赞",
    "正能量！",
    "好人一生平安",
    "感动[泪]",
    "这才是好企业",
    "支持{b}",
    "转发微博",
    "必须表扬",
)
_NEWS = (
    "【出行提示】市中心{b}大厦旁地铁站今起封闭施工三个月，请市民绕行",
    "{b}杯城市马拉松本周日开跑，沿线多条道路交通管制",
    "{b}大厦今晚灯光秀，预计人流量较大，请注意安全",
)
_NEWS_REPOSTS = (
    "收到",
    "周末记得绕行",
    "又要堵车了，无语",
    "马拉松加油！",
    "已转给家人",
    "转发微博",
    "施工期好长",
    "希望早点修好",
)
_HOUR_PROFILE = (
    0.25,
    0.15,
    0.1,
    0.08,
    0.08,
    0.12,
    0.3,
    0.55,
    0.75,
    0.8,
    0.85,
    0.95,
    1.0,
    0.9,
    0.8,
    0.8,
    0.85,
    0.9,
    0.95,
    1.0,
    1.0,
    0.95,
    0.75,
    0.45,
)


@dataclass(slots=True)
class _Author:
    id: str
    name: str
    followers: int
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "followers": self.followers, "verified": self.verified}


_NICK_A = ("小", "阿", "大", "快乐的", "爱吃", "今天也要", "一只", "不想上班的", "深夜", "早起的")
_NICK_B = ("橘子", "猫猫", "鱼", "晴天", "豆包", "小熊", "土豆", "糖糖", "星星", "柚子", "咸鱼", "桃子")
_KOL_NAMES = ("财经观察者", "消费者说", "科技每日谈", "生活热点榜", "新闻早知道", "都市频道")


class _World:
    """Authors, ids and the post records of one generated stream."""

    def __init__(self, rng: random.Random, brand: str) -> None:
        self.rng = rng
        self.brand = brand
        self.next_id = 4950000000000000 + rng.randrange(10**9)
        self.posts: list[tuple[float, int, dict[str, Any]]] = []
        self.users = [self._person(i) for i in range(4000)]
        self.kols = [
            _Author(str(9000000 + i), n, rng.randrange(1_000_000, 6_000_000), True)
            for i, n in enumerate(_KOL_NAMES)
        ]
        self.official = _Author("8888888", f"{brand}官方微博", 2_300_000, True)

    def _person(self, i: int) -> _Author:
        r = self.rng
        followers = int(math.exp(r.gauss(5.3, 1.6)))
        verified = followers > 20_000 and r.random() < 0.4
        name = r.choice(_NICK_A) + r.choice(_NICK_B) + str(r.randrange(10, 9999))
        return _Author(str(1_000_000 + i), name, min(followers, 3_000_000), verified)

    def bot(self) -> _Author:
        r = self.rng
        return _Author(
            str(7_000_000 + r.randrange(10**6)), f"用户{r.randrange(10**9, 10**10)}", r.randrange(0, 4), False
        )

    def person(self) -> _Author:
        return self.rng.choice(self.users)

    def fill(self, template: str) -> str:
        return template.format(b=self.brand, p=self.rng.choice(PRODUCTS))

    def post(
        self,
        ts: float,
        text: str,
        author: _Author,
        phase: str,
        incident: str | None,
        repost_of: dict[str, Any] | None = None,
        engagement: int = 0,
    ) -> dict[str, Any]:
        self.next_id += self.rng.randrange(1, 50)
        pid = str(self.next_id)
        r = self.rng
        record = {
            "platform": "weibo",
            "id": pid,
            "text": text,
            "created_at": datetime.fromtimestamp(ts, UTC8).isoformat(timespec="milliseconds"),
            "author": author.to_dict(),
            "reposts": engagement,
            "comments": engagement // 3 + r.randrange(0, 3),
            "likes": engagement * 2 + r.randrange(0, 10),
            "url": f"https://m.weibo.cn/detail/{pid}",
            "repost_of": None if repost_of is None else repost_of["id"],
            "label": {"phase": phase, "incident": incident},
        }
        self.posts.append((ts, len(self.posts), record))
        return record

    def repost(
        self,
        ts: float,
        parent: dict[str, Any],
        comment: str,
        author: _Author,
        phase: str,
        incident: str | None,
    ) -> dict[str, Any]:
        chain = (
            f"{comment}//@{parent['author']['name']}:{parent['text']}" if parent.get("repost_of") else comment
        )
        return self.post(ts, chain[:280], author, phase, incident, repost_of=parent)

    # -- building blocks ----------------------------------------------------------------

    def background(self, t0: float, t1: float, peak_per_hour: float) -> None:
        """Everyday chatter with a daily rhythm and small organic repost chains."""
        r = self.rng
        t = t0
        while True:
            hour = datetime.fromtimestamp(t, UTC8).hour
            rate = peak_per_hour * _HOUR_PROFILE[hour] / 3600.0
            t += r.expovariate(rate)
            if t >= t1:
                return
            self._chatter(t)

    def _chatter(self, t: float) -> None:
        r = self.rng
        x = r.random()
        pool = _BG_POSITIVE if x < 0.45 else _BG_NEUTRAL if x < 0.9 else _BG_NEGATIVE
        author = self.person() if r.random() > 0.01 else r.choice(self.kols)
        root = self.post(
            t, self.fill(r.choice(pool)), author, "background", None, engagement=r.randrange(0, 5)
        )
        for _ in range(min(int(r.expovariate(1.5)), 6)):
            self.repost(
                t + r.expovariate(1 / 900), root, r.choice(_BG_COMMENTS), self.person(), "background", None
            )

    def cascade(
        self,
        root: dict[str, Any],
        t0: float,
        size: int,
        median_delay: float,
        comments: tuple[str, ...],
        phase: str,
        incident: str,
        *,
        bots: float = 0.0,
    ) -> None:
        """Reposts of ``root`` with log-normal delays; later ones repost earlier reposts too."""
        r = self.rng
        nodes = [root]
        times = sorted(t0 + math.exp(r.gauss(math.log(median_delay), 0.9)) for _ in range(size))
        for t in times:
            parent = root if r.random() < 0.65 else r.choice(nodes)
            author = self.bot() if r.random() < bots else self.person()
            nodes.append(self.repost(t, parent, self.fill(r.choice(comments)), author, phase, incident))
        root["reposts"] = size
        root["comments"] = size // 3
        root["likes"] = size * 2

    def independent(
        self,
        t0: float,
        t1: float,
        count: int,
        templates: tuple[str, ...],
        phase: str,
        incident: str,
        *,
        ramp: float = 1.0,
    ) -> None:
        """``count`` separate posts between t0 and t1; ``ramp`` > 1 pushes them later (a slow burn)."""
        r = self.rng
        for _ in range(count):
            t = t0 + (t1 - t0) * r.random() ** (1.0 / ramp)
            self.post(t, self.fill(r.choice(templates)), self.person(), phase, incident)


# -- incidents ----------------------------------------------------------------------------


def _incident(world: _World, kind: str, t0: float, incident: str) -> None:
    r = world.rng
    if kind == "sudden_viral":
        root = world.post(t0, world.fill(_FOOD_COMPLAINT), world.person(), "crisis", incident)
        world.cascade(root, t0, r.randrange(1500, 2500), 1500, _REPOST_ANGRY, "crisis", incident)
        world.independent(
            t0 + 300, t0 + 4 * 3600, r.randrange(150, 250), _ANGRY, "crisis", incident, ramp=0.6
        )
    elif kind == "slow_burn":
        world.independent(t0, t0 + 14 * 3600, r.randrange(350, 450), _SERVICE, "crisis", incident, ramp=2.5)
        world.post(t0, world.fill(_SERVICE[0]), world.person(), "crisis", incident)
    elif kind == "kol":
        root = world.post(t0, world.fill(_KOL_SAFETY), r.choice(world.kols), "crisis", incident)
        world.cascade(root, t0, r.randrange(2500, 3500), 1200, _KOL_REPOSTS, "crisis", incident)
        world.independent(
            t0 + 600, t0 + 5 * 3600, r.randrange(100, 200), _ANGRY, "crisis", incident, ramp=0.7
        )
    elif kind == "rumour":
        root = world.post(t0, world.fill(_RUMOUR), world.person(), "crisis", incident)
        world.cascade(root, t0, r.randrange(700, 1000), 3600, _RUMOUR_REPOSTS, "crisis", incident)
        world.post(
            t0 + 6 * 3600,
            f"【辟谣】{world.brand}官方：网传原料问题消息不实，已报警处理",
            world.official,
            "crisis",
            incident,
        )
    elif kind == "promo":
        root = world.post(t0, world.fill(_PROMO_ROOT), world.official, "decoy", incident)
        world.cascade(root, t0, r.randrange(2500, 3500), 2400, _PROMO_REPOSTS, "decoy", incident, bots=0.4)
        for _ in range(r.randrange(300, 500)):  # bot accounts copying the campaign text
            world.post(t0 + r.expovariate(1 / 3600), world.fill(_PROMO_ROOT), world.bot(), "decoy", incident)
    elif kind == "positive_viral":
        root = world.post(t0, world.fill(_POSITIVE_VIRAL), world.person(), "decoy", incident)
        world.cascade(root, t0, r.randrange(1500, 2500), 1800, _POSITIVE_REPOSTS, "decoy", incident)
    elif kind == "news":
        for i in range(r.randrange(2, 4)):
            src = r.choice(world.kols)
            root = world.post(t0 + i * 900, world.fill(_NEWS[i % len(_NEWS)]), src, "decoy", incident)
            world.cascade(root, t0 + i * 900, r.randrange(150, 300), 2400, _NEWS_REPOSTS, "decoy", incident)
    else:  # pragma: no cover - guarded by generate()
        raise ValueError(kind)


def _demo(world: _World, t0: float) -> None:
    """Real-time-short: chatter, then a complaint that becomes a crisis, then calm."""
    r = world.rng
    end = t0 + 300.0
    t = t0
    while True:  # background at ~2.5 posts/s throughout
        t += r.expovariate(2.5)
        if t >= end:
            break
        author = world.person()
        x = r.random()
        pool = _BG_POSITIVE if x < 0.45 else _BG_NEUTRAL if x < 0.9 else _BG_NEGATIVE
        world.post(t, world.fill(r.choice(pool)), author, "background", None, engagement=r.randrange(0, 5))
    onset = t0 + 20.0
    incident = "demo-crisis"
    root = world.post(onset, world.fill(_FOOD_COMPLAINT), world.person(), "crisis", incident)
    nodes = [root]
    kol: dict[str, Any] | None = None

    def rate(s: float) -> float:  # crisis posts per second, s seconds after onset
        if s < 120:
            return 1.0 + 27.0 * s / 120.0
        return max(0.5, 28.0 * math.exp(-(s - 120.0) / 60.0))

    t = onset
    while t < end:
        lam = max(rate(t - onset), 0.1)
        t += r.expovariate(lam)
        if t >= end:
            break
        if kol is None and t - onset >= 50:
            kol = world.post(t, world.fill(_KOL_FOOD), world.kols[0], "crisis", incident, engagement=50)
            nodes.append(kol)
            continue
        x = r.random()
        if x < 0.6:
            parent = (
                kol
                if kol is not None and r.random() < 0.5
                else (root if r.random() < 0.6 else r.choice(nodes))
            )
            nodes.append(
                world.repost(
                    t, parent, world.fill(r.choice(_REPOST_ANGRY)), world.person(), "crisis", incident
                )
            )
        elif x < 0.75:
            world.post(t, "扩散！" + root["text"], world.person(), "crisis", incident)
        else:
            world.post(t, world.fill(r.choice(_ANGRY)), world.person(), "crisis", incident)
    root["reposts"] = len(nodes)


def generate(
    name: str = "demo",
    *,
    start: datetime,
    seed: int = 0,
    brand: str = "艾克美",
    days: float | None = None,
    volume: float = 40.0,
    **kw: Any,
) -> Iterator[dict[str, Any]]:
    """Yield the posts of scenario ``name`` from ``start``, oldest first.

    ``days`` (multi-day scenarios; default 30 for ``month``, 7 otherwise) and ``volume``
    (background posts per hour at the daily peak) shape the longer scenarios.
    """
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    if kw:
        raise ValueError(f"unknown option(s) {', '.join(sorted(kw))}")
    if start.tzinfo is None:
        raise ValueError("start needs a timezone")
    world = _World(random.Random(seed), brand)
    t0 = start.timestamp()
    if name == "demo":
        _demo(world, t0)
    else:
        span = (days if days is not None else 30.0 if name == "month" else 7.0) * 86400.0
        world.background(t0, t0 + span, volume)
        kinds: tuple[str, ...] = (
            ()
            if name == "background"
            else (
                tuple(x for pair in zip(CRISES, (*DECOYS, None), strict=True) for x in pair if x is not None)
                if name == "month"
                else (name,)
            )
        )
        gap = 2.5 * 86400.0 if name == "month" else 3 * 86400.0
        t = t0 + 2 * 86400.0  # two quiet days first: every detector gets some history
        n = 0
        r = world.rng
        while kinds and t + 86400.0 <= t0 + span:
            kind = kinds[n % len(kinds)]
            n += 1
            phase = "crisis" if kind in CRISES else "decoy"
            at = t + r.uniform(8, 22) * 3600.0  # daytime-ish onset, any day of the week
            _incident(world, kind, at, f"{phase}-{n}-{kind}")
            t += gap
    end = t0 + (300.0 if name == "demo" else (days or 30.0) * 86400.0 + 86400.0)
    for ts, _, record in sorted(world.posts, key=lambda x: (x[0], x[1])):
        if ts < end:
            yield record
