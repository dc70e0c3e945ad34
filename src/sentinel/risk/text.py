"""Text folding for matching and near-duplicate detection.

Queries and posts are compared after the same folding: NFKC (full-width to half-width),
lower case, and traditional -> simplified Chinese, character by character. The character
table comes from OpenCC's ``TSCharacters.txt`` when ``opencc-python-reimplemented`` is
installed (a ``str.translate`` table is ~50x faster than OpenCC's phrase converter, and
phrase-level differences do not matter for substring matching); otherwise a small built-in
table of the commonest characters is used.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from sentinel.nfkc import nfkc

__all__ = ["clean_for_dedup", "fold", "is_bare_repost", "own_words", "shingles", "takes_seriously"]

# The commonest traditional characters, used when OpenCC's table is not installed.
_BUILTIN_T2S = (
    "愛爱 礙碍 罷罷 擺摆 敗败 辦办 幫帮 報报 備备 貝贝 筆笔 邊边 變变 標标 別别 賓宾 補补 財财 參参 "
    "產产 場场 長长 廠厂 車车 陳陈 稱称 誠诚 遲迟 齒齿 衝冲 蟲虫 處处 傳传 創创 從从 錯错 達达 "
    "帶带 單单 當当 黨党 導导 燈灯 點点 電电 調调 東东 動动 獨独 斷断 對对 隊队 噸吨 奪夺 "
    "兒儿 爾尔 發发 罰罚 範范 飯饭 訪访 費费 豐丰 風风 鳳凤 負负 婦妇 復复 該该 幹干 岡冈 剛刚 "
    "個个 給给 鞏巩 貢贡 溝沟 購购 構构 顧顾 關关 觀观 廣广 規规 歸归 貴贵 國国 過过 還还 漢汉 "
    "號号 後后 話话 劃划 畫画 懷怀 壞坏 歡欢 環环 換换 黃黄 會会 積积 機机 極极 級级 幾几 記记 "
    "計计 際际 繼继 價价 間间 簡简 見见 將将 講讲 獎奖 交交 膠胶 腳脚 階阶 節节 結结 潔洁 緊紧 "
    "進进 盡尽 經经 驚惊 競竞 舊旧 舉举 據据 劇剧 覺觉 軍军 開开 課课 虧亏 來来 藍蓝 勞劳 樂乐 "
    "類类 裡里 禮礼 歷历 厲厉 連连 聯联 練练 糧粮 兩两 輛辆 療疗 靈灵 龍龙 樓楼 錄录 陸陆 亂乱 "
    "輪轮 論论 羅罗 媽妈 馬马 買买 賣卖 滿满 門门 們们 夢梦 麵面 滅灭 難难 腦脑 鬧闹 內内 農农 "
    "歐欧 盤盘 評评 貧贫 錢钱 強强 橋桥 親亲 輕轻 請请 窮穷 區区 權权 確确 讓让 熱热 認认 "
    "軟软 殺杀 傷伤 燒烧 設设 聲声 勝胜 師师 時时 實实 識识 勢势 試试 視视 適适 壽寿 書书 "
    "屬属 數数 雙双 誰谁 稅税 說说 絲丝 鬆松 訴诉 雖虽 歲岁 孫孙 態态 談谈 題题 體体 條条 鐵铁 "
    "聽听 廳厅 頭头 圖图 團团 萬万 網网 為为 衛卫 問问 無无 務务 戲戏 係系 細细 蝦虾 險险 顯显 "
    "現现 線线 鄉乡 響响 項项 協协 寫写 謝谢 興兴 選选 學学 詢询 壓压 嚴严 驗验 楊杨 樣样 藥药 "
    "業业 醫医 億亿 義义 藝艺 議议 陰阴 銀银 應应 營营 傭佣 優优 郵邮 魚鱼 與与 語语 預预 "
    "員员 圓圆 遠远 願愿 約约 運运 雜杂 災灾 載载 責责 戰战 張张 漲涨 賬账 這这 針针 鎮镇 "
    "爭争 證证 隻只 質质 製制 鐘钟 種种 眾众 週周 豬猪 註注 轉转 裝装 狀状 準准 資资 總总 "
    "縱纵 組组 鑽钻 聞闻 詐诈 騙骗 爆爆 炸炸 質质 問问 題题 黴霉 過过 廣广 誌志 訊讯 錯错 賠赔 償偿 "
)


@lru_cache(maxsize=1)
def _t2s() -> tuple[dict[int, str], frozenset[str]]:
    """The traditional -> simplified table, and the set of its traditional characters."""
    table: dict[int, str] = {}
    try:
        text = (resources.files("opencc") / "dictionary" / "TSCharacters.txt").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        text = ""
    for line in text.splitlines():
        trad, _, simps = line.partition("\t")
        simp = simps.split(" ")[0] if simps else ""
        if len(trad) == 1 and simp and simp != trad:
            table[ord(trad)] = simp
    if not table:
        for pair in _BUILTIN_T2S.split():
            if len(pair) == 2 and pair[0] != pair[1]:
                table[ord(pair[0])] = pair[1]
    return table, frozenset(map(chr, table))


def fold(text: str) -> str:
    """Text as queries see it: NFKC, lower case, traditional folded to simplified."""
    if text.isascii():
        return text.lower()
    text = nfkc(text).lower()
    table, traditional = _t2s()
    # Most posts hold no traditional character: testing for one is 2x faster than translating.
    return text if traditional.isdisjoint(text) else text.translate(table)


# Weibo reposts append the chain of earlier comments as "//@name: ..."; the copy that
# matters for near-duplicates is the poster's own words (or the chain if they added none).
_REPOST_CHAIN = re.compile(r"//\s*@[^:：\s]{1,30}[:：]")
_MARKUP = re.compile(r"https?://\S+|\[[^\[\]\s]{1,8}\]|@[^\s:：,，]{1,30}")
_PUNCT = re.compile(r"[\s\W_]+")


def clean_for_dedup(folded: str) -> str:
    """Folded text without URLs, emoticons, mentions, punctuation and white space."""
    head = _REPOST_CHAIN.split(folded, maxsplit=1)[0]
    if len(head.strip()) < 4:
        head = folded
    return _PUNCT.sub("", _MARKUP.sub("", head))


# what the platform shows for a repost that adds no words of its own
_BARE = frozenset({"", "转发微博", "轉發微博", "转发", "repost", "转"})


def own_words(text: str) -> str:
    """A repost's own words: its text before the ``//@name:`` chain it reposted through."""
    return _REPOST_CHAIN.split(text, maxsplit=1)[0].strip()


_LINKS_MENTIONS = re.compile(r"https?://\S+|@[^\s:：,，]{1,30}")


def is_bare_repost(text: str) -> bool:
    """True when a repost adds nothing of its own: no words (links and @-mentions aside: tagging
    a friend passes the post on), or the platform's "转发微博". An emoticon alone ("[蜡烛]",
    "[怒]") is a reaction, not a bare repost."""
    words = own_words(text)
    return words.lower() in _BARE or not _PUNCT.sub("", _LINKS_MENTIONS.sub("", words))


# Reactions that take what they repost seriously: they ask whether it is true or are alarmed
# by it. Rumour studies find such "enquiry" posts early in a rumour's spread (Zhao, Resnick
# and Mei, WWW 2015); in the real cascades they are 5-10x as frequent in the reactions to
# rumours as in those to harmless or cheerful posts (docs/risk.md). Matched on folded own words.
_SERIOUS = re.compile(
    "真的吗|真的假的|真假|是真的|假的吧|不会吧|求证|证实|核实|辟谣|谣言|造谣|靠谱吗|求真相|真相|属实|可信"
    "|确定吗|真的么|真的嘛|真的\\?|真的啊|天哪|天啊|我的天|吓死|吓人|可怕|恐怖|震惊|惊呆|细思|\\[吃惊\\]"
    "|我靠|卧槽|我擦|不敢相信|难以置信"
)


def takes_seriously(folded: str) -> bool:
    """True when a reaction's own words (folded text) ask whether the post is true or are alarmed by it."""
    return _SERIOUS.search(own_words(folded)) is not None


def shingles(cleaned: str, k: int = 3) -> set[str]:
    """Character k-grams; short Chinese posts have no words to split on."""
    if len(cleaned) <= k:
        return {cleaned} if cleaned else set()
    return {cleaned[i : i + k] for i in range(len(cleaned) - k + 1)}
