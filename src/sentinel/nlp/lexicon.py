"""A rule-based fallback classifier: sentiment from word lists, no model files.

Used where no model is available (``[classifier] type = "lexicon"``) and in tests of the
pipeline that should not depend on the trained model. It is much weaker than the
transformer; see docs/model.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from sentinel.nlp.base import Scores

__all__ = ["LexiconClassifier"]

NEGATIVE = (
    "差",
    "烂",
    "垃圾",
    "失望",
    "投诉",
    "退款",
    "维权",
    "骗",
    "坑",
    "假货",
    "质量问题",
    "故障",
    "爆炸",
    "起火",
    "中毒",
    "腹泻",
    "拉肚子",
    "发霉",
    "过期",
    "异物",
    "虫子",
    "致癌",
    "召回",
    "曝光",
    "黑心",
    "恶心",
    "愤怒",
    "气死",
    "无语",
    "太差",
    "不行",
    "不好",
    "难用",
    "坏了",
    "漏",
    "欺骗",
    "欺诈",
    "虚假",
    "赔偿",
    "道歉",
    "抵制",
    "滚",
    "恶劣",
    "泄露",
    "隐私",
    "客服不理",
    "没人管",
    "删帖",
    "辟谣",
    "谣言",
    "罚款",
    "违法",
    "立案",
    "调查",
    "爆雷",
    "跑路",
    "裁员",
    "欠薪",
    "翻车",
    "出事",
    "受伤",
    "死亡",
    "[怒]",
    "[抓狂]",
    "[泪]",
    "[衰]",
    "[鄙视]",
    "[吐]",
    "[生病]",
    "[弱]",
    "[哼]",
    "[失望]",
    "[伤心]",
)
POSITIVE = (
    "好",
    "棒",
    "赞",
    "喜欢",
    "满意",
    "推荐",
    "不错",
    "给力",
    "划算",
    "好用",
    "好吃",
    "惊喜",
    "感谢",
    "支持",
    "开心",
    "快乐",
    "漂亮",
    "值得",
    "优惠",
    "新品",
    "上市",
    "点赞",
    "五星",
    "回购",
    "[哈哈]",
    "[嘻嘻]",
    "[爱你]",
    "[心]",
    "[赞]",
    "[鼓掌]",
    "[给力]",
    "[good]",
    "[威武]",
    "[太开心]",
    "[笑cry]",
    "[哈哈哈]",
)
_NEGATORS = ("不", "没", "别", "非")
_NEG_RE = re.compile("|".join(re.escape(w) for w in sorted(NEGATIVE, key=len, reverse=True)))
_POS_RE = re.compile("|".join(re.escape(w) for w in sorted(POSITIVE, key=len, reverse=True)))


class LexiconClassifier:
    """P(negative) = logistic(neg hits - pos hits); a positive word after a negator counts as negative.

    >>> LexiconClassifier().classify(["质量太差了，要求退款"])[0].negative > 0.5
    True
    """

    name = "lexicon"

    def classify(self, texts: Sequence[str]) -> list[Scores]:
        return [Scores(negative=self._negative(t)) for t in texts]

    @staticmethod
    def _negative(text: str) -> float:
        neg = len(_NEG_RE.findall(text))
        pos = 0
        for m in _POS_RE.finditer(text):
            if m.start() > 0 and text[m.start() - 1] in _NEGATORS:
                neg += 1
            else:
                pos += 1
        return 1.0 / (1.0 + math.exp(-1.2 * (neg - pos)))
