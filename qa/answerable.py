"""Whether the best passage can answer the question at all, beyond sharing its words.

A question about the knowledge base's own subject that asks for a fact the text lacks ("江湾国际公寓
一共有多少户居民？" against an article that never counts them) shares most of its words with some
passage, so lexical coverage and cosines call it found. Two checks catch a share of these without a
reading model:

- **The kind of answer asked.** 多少/几 + a measure word asks for a count of that measure (几名 ->
  "五名", 多少户 -> "300户"); 多少/几 alone or "how many" for some number (a rank such as 第100个 is
  none); 第几 for a rank (第三, 首个); 多大比例/百分之几 for a share (60%, 三分之二, 1:7); 哪一年/
  什么时候/when for a date or time; 多少钱/费用… for a price; 哪条路/地址 for an address. The best
  passage must hold one that the question does not itself contain ("2018年" in the question is no
  answer to "哪一年").
- **Names the knowledge base never mentions.** A question word that CC-CEDICT gives only as a
  proper noun (深圳, 五角场, 清华大学; not 东西 or 城市) and that no passage holds: the question is
  about something else, however well its other words match. (jieba's place and organisation tags
  were tried first: they also mark 东西, 上路, 城市, 英雄 and rejected answerable questions.)

Measured with `python -m benchmarks.answerable` (a knowledge base of half a set's articles, or of
DRCD's even paragraphs, asked about what it holds and what it left out), without -> with the checks:
answerable questions accepted CMRC 0.994 -> 0.994, DRCD 1.000 -> 0.995 and 1.000 -> 0.997 (paragraphs
left out); unanswerable ones rejected 0.336 -> 0.445, 0.026 -> 0.283 and 0.011 -> 0.095 (ranks,
shares and roads as kinds, and ranks no longer taken for counts, added 0.002 / 0.007 / 0.006 of
the rejections and cost one answerable DRCD question of 2,203).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from itertools import chain

from .terms import normalize
from .translate import proper_nouns

#: Measure words and units that may follow 多少/几; the answer then has a number with the same one.
#: Longest first, so 平方公里 is taken before 公里 and 米.
UNITS = sorted(set("""
个 位 名 户 所 年 次 种 届 间 座 家 条 项 件 只 本 张 首 岁 元 块 米 人 天 月 周 倍 成 层 辆 栋 部 集 场 台 期
公里 平方公里 平方米 千米 公顷 亩 小时 分钟 秒 万 亿 千 百 吨 公斤 千克 斤 厘米 毫米 度 页 章 票 批 轮 支 颗
字 句 类 步 招 品 级
""".split()), key=lambda u: (-len(u), u))
#: Generic classifiers, often left out or changed in the answer (几个人 -> 三人, 几个字 -> 八字), and
#: magnitudes (几百辆 -> 20余辆): they say nothing of the unit.
_GENERIC = frozenset("个位名种百千万亿")
#: Units of measure that are also written with Latin symbols (2cm, 5 km, 3 kg).
_MEASURES = frozenset("米 厘米 毫米 公里 千米 平方公里 平方米 公顷 吨 公斤 千克 度".split())
_NUMERALS = "零〇一二两三四五六七八九十百千万亿兆廿卅半几数多"
_NUMBER = rf"(?:[0-9]+(?:[.,][0-9]+)*|[{_NUMERALS}]+)"
#: 多, 数 or 几 with no other numeral: a vague amount (多次, 多类, 数次, 多元 "manifold"). It answers a
#: count in the unit or classifier asked (几次 -> 多次, 几位 -> 多位) but is no number in general
#: (多少个居民区 -> 多类 is none).
_VAGUE = rf"[多数几]+(?![{_NUMERALS}])"
_UNIT = "|".join(map(re.escape, UNITS))

# ----- what a question asks for -----
#: 多少/几 asking for a count: not 哪几 (which ones), 好几 (several), 几乎 (almost), 几何
#: (geometry), 几年前 (some years ago).
_ASKS_COUNT = re.compile(rf"(?<![哪好])(?:多少|几)(?!乎|何|[年天月]前)({_UNIT})?")
_ASKS_COUNT_EN = re.compile(r"\bhow (?:many|much)\b|\bnumber of\b", re.I)
#: A question word after the count: the count is said in passing (带领几个同伙建立哪个国家？).
_ASKS_OTHER = re.compile(r"谁|什么|啥|哪")
#: A year, or a date, asked for by name (哪一年; 几月几号): the answer is one.
_ASKS_YEAR = re.compile(r"哪一?年|何年|年份|\b(?:what|which) year\b", re.I)
_ASKS_DATE = re.compile(r"哪一?天|几月|几号|哪个?月|日期|\b(?:what|which) (?:date|month|day)\b", re.I)
#: A time asked for loosely (什么时候, when): also answered by an event or a period
#: (四国征伐后, 高二的时候).
_ASKS_TIME = re.compile(r"什么时[候间]|何时|几点|^when\b|\bwhat time\b"
                        r"|\bwhen (?:did|was|were|is|are|does|do|will|has|had)\b", re.I)
#: A rank (第几, 排第几): the answer is 第 + a number, or 首/头 (the first).
_ASKS_RANK = re.compile(r"第(?:几|多少)|排名(?:是|为)?(?:多少|几)|名次|\bwhat rank\b|\bwhich place\b"
                        r"|\branks? (?:where|what)\b", re.I)
#: A share (多大比例, 百分之几): the answer is a percentage, a fraction or 半数/多数.
_ASKS_SHARE = re.compile(r"(?:多大|什么|多少)的?比[例重率]|比[例重率](?:是|为|有)?多少"
                         r"|百分之(?:几|多少)|百分比|占(?:了)?(?:多少|几)"
                         r"|\bwhat (?:percentage|proportion|share|fraction)\b"
                         r"|\bhow (?:large|big) a (?:share|proportion)\b", re.I)
_ASKS_PHONE = re.compile(r"(?:电话|手机|热线)(?:号码)?是?多少|号码是|联系方式"
                         r"|\b(?:phone|telephone) number\b", re.I)
#: 哪条路, 哪几条路, 哪些街, 什么路, address (not 哪路, 哪几路公交, 哪条路线, 哪条路子, 哪些街道, 路段, 路口).
_ASKS_ADDRESS = re.compile(r"地址|门牌|哪(?:几条|些条?|条)(?:马路|路|街|巷|弄)(?![线径子道段口])"
                           r"|什么(?:马路|路)(?!线|径)|\baddress\b|\b(?:which|what) (?:road|street)\b", re.I)
_ASKS_PRICE = re.compile(r"(?:多少|几)(?:钱|元|块钱|罚款|罚金|费用?|租金)"
                         r"|(?:费用?|价格?|价钱|罚款|罚金|租金|工资|薪水)(?:是|要|为|需要|得|交)?(?:多少|几)"
                         r"|\bhow much\b.*\b(?:cost|fee|price|pay)", re.I)

# ----- what a passage gives -----
#: A year standing alone: four digits from 1500 to 2099 (面向2035, 2008奥运, "by 2035.", 2008,2012),
#: not part of a longer number or a word (12035, 2035,500, 20.2035, 2035.5, a1999, 2035km), not after
#: 第, and not a share or a count (2035%, 2035人, 1600余人, 1800多万, 2000左右).
_BARE_YEAR = re.compile(rf"(?<![0-9a-zA-Z第])(?<![0-9]\.)(?:1[5-9]|20)[0-9]{{2}}"
                        rf"(?![0-9a-zA-Z]|\.[0-9]|,[0-9]{{3}}(?![0-9])|\s*[%％‰]"
                        rf"|\s*[多余]?\s*(?:{_UNIT})|\s*(?:多|余|左右))")
#: Any count: digits that are not a date (2018年, 4月29日 count nothing) or a year standing alone
#: (面向2035, and 人数达1999 too: it looks like one), a Chinese numeral with a unit other than a year
#: or month, perhaps with 余 or 来 between (三十余人, 十来个; not 一个, 一条, 一项…: mostly "a", not a
#: count; not 多次, 多类: _VAGUE), or a share (60%, 三分之二, 过半数). A number after 第 is a rank, not a
#: count (第100个街道, 第三代). Counts in a named unit are _count_in's (几年 -> 1995年).
_COUNT_UNIT = "|".join(map(re.escape, (u for u in UNITS if u not in ("年", "月"))))
#: Units after which 一 is "a" (一个, 一条), not a magnitude (一百 is 100).
_A_UNIT = "|".join(map(re.escape, (u for u in UNITS if u not in ("年", "月", "百", "千", "万", "亿"))))
_ANY_NUMBER = re.compile(rf"(?<![0-9第])(?!{_BARE_YEAR.pattern})[0-9]+(?:[.,][0-9]+)*"
                         rf"(?![0-9]|\s*[年月日号])"
                         rf"|(?<![第{_NUMERALS}])(?!一(?:{_A_UNIT})|{_VAGUE})"
                         rf"[{_NUMERALS}]+[余来]?(?:{_COUNT_UNIT})|[%％]"
                         rf"|[{_NUMERALS}]+分之|半数|过半|一半|多数")
#: A year: 2018年, 二〇一八年, 年代, 世纪, or a year standing alone (_BARE_YEAR). Dates and times
#: (_DATE, _TIME) take years too.
_YEAR = re.compile(r"[0-9]{1,4}\s*年|[〇零一二三四五六七八九十百]{1,4}年|年代|世纪|" + _BARE_YEAR.pattern)
#: A date: a year, a month or day of the month, the Nth day (新规实施第三天), a weekday.
_DATE = re.compile(_YEAR.pattern + r"|[0-9一二三四五六七八九十廿卅]{1,3}\s*[月日号]"
                   r"|第\s*[0-9一二三四五六七八九十百]{1,3}\s*天"
                   r"|(?:星期|礼拜|周)[一二三四五六日天]|每天|每日|工作日|周末|节假日")
_TIME = re.compile(_DATE.pattern + r"|[0-9]{1,2}\s*[:：]\s*[0-9]{2}"
                   r"|[0-9零〇一二两三四五六七八九十]{1,3}\s*[点时]|[上下中晚]午|早上|晚上|凌晨|时候|时期|时代|期间|[早中晚初末]期|纪|[之以]?[前后]|[初末]|近年"
                   r"|当时|如今|现在|目前|[春夏秋冬]")
_PRICE = re.compile(rf"(?!{_VAGUE}){_NUMBER}\s*(?:多|余)?\s*[万千百亿]?\s*(?:元|块|角|美元|港元|英镑|欧元)"
                    r"|免费|不收费")
_RANK = re.compile(rf"第\s*{_NUMBER}|首[个位家批次届座所任]|头[号名]|榜首|冠军|亚军|季军|之首")
_SHARE = re.compile(rf"[0-9]\s*[%％]|百分之|{_NUMBER}分之|{_NUMBER}\s*[:：比兑]\s*{_NUMBER}"
                    rf"|[{_NUMERALS}]成(?![为员立功])|半数|过半|一半|多数|少数|大部分|小部分")
_PHONE = re.compile(r"[0-9][0-9\- ]{5,}[0-9]")
_ADDRESS = re.compile(r"[0-9一二三四五六七八九十百]+\s*[号弄幢栋室]"
                      r"|[\u4e00-\u9fff]{1,3}[路街巷](?![道区坊上口头径线子过费面况])"  # not 街道, 路径
                      r"|大厦|广场|大楼")

#: The kinds other than a count, in the order they are tried (多少钱 asks a price, not a count): what
#: asks for each, and what gives it.
_ASKS = (("phone", _ASKS_PHONE), ("address", _ASKS_ADDRESS), ("price", _ASKS_PRICE), ("year", _ASKS_YEAR),
         ("date", _ASKS_DATE), ("time", _ASKS_TIME), ("rank", _ASKS_RANK), ("share", _ASKS_SHARE))
_GIVES = {"phone": _PHONE, "address": _ADDRESS, "price": _PRICE, "year": _YEAR, "date": _DATE, "time": _TIME,
          "rank": _RANK, "share": _SHARE}

#: Share of its confidence an answer keeps when unanswered_reason gives a reason: at most 0.3, below
#: the default Config.min_confidence (0.4), so it is not found.
UNANSWERED_SHARE = 0.3


@dataclass(frozen=True)
class AnswerKind:
    """What a question asks for: "phone", "address", "year" (哪一年), "date" (哪天, 几月), "time"
    (什么时候: a date, a period or an event), "price", or "count" (with the unit the count is in,
    if named)."""

    name: str
    unit: str | None = None

    def pattern(self) -> re.Pattern:
        if self.name != "count":
            return _GIVES[self.name]
        return _count_in(self.unit) if self.unit else _ANY_NUMBER


@functools.lru_cache(maxsize=256)
def _count_in(unit: str) -> re.Pattern:
    """A number followed by the unit (a regular expression)."""
    latin = r"|[a-z]+\b" if unit in _MEASURES else ""
    return re.compile(rf"(?<![第0-9{_NUMERALS}]){_NUMBER}\s*(?:多|余)?\s*(?:[万千百亿兆])?\s*"
                      rf"(?:{re.escape(unit)}{latin})")


def asked_kind(question: str) -> AnswerKind | None:
    """The kind of answer the question asks for, or None when it names none (什么是…, 为什么…)."""
    text = normalize(question)
    for name, asks in _ASKS:
        if asks.search(text):
            return AnswerKind(name)
    count = _ASKS_COUNT.search(text)
    if count and not _ASKS_OTHER.search(text, count.end()):
        unit = count.group(1)
        return AnswerKind("count", None if unit in _GENERIC else unit)
    if _ASKS_COUNT_EN.search(text):
        return AnswerKind("count")
    return None


def gives(kind: AnswerKind, question: str, passage: str) -> bool:
    """Whether the passage holds an answer of that kind that the question does not itself contain.
    A count may also be given as a share (几成 -> 60%), and one that names no unit by a vague amount
    of the classifier asked (几位专家 -> 多位专家)."""
    asked, text = normalize(question), normalize(passage)
    found = kind.pattern().finditer(text)
    if kind.name == "count" and not kind.unit:
        count = _ASKS_COUNT.search(asked)
        if count and count.group(1):  # a generic classifier (个, 位, 名, 种) makes no unit of the kind
            vague = rf"(?<![第{_NUMERALS}]){_VAGUE}{re.escape(count.group(1))}"
            found = chain(found, re.finditer(vague, text))
    if any(m.group(0) not in asked for m in found):
        return True
    return kind.name == "count" and kind.unit == "成" and bool(re.search(r"[0-9][%％]", text))


#: A term the question quotes ("“一线”是什么意思", 「四平台」指的是什么) and, after it in the same clause,
#: asks what it is: then a sentence that defines it ("“一线”即…", 所谓“一线”, 一线是指…) answers.
_QUOTED_ASKED = re.compile(r"[“\"「『‘]([^”\"」』’\s]{1,12})[”\"」』’](?=([^，,。；;！!？?]*))")
#: What asks what a term is or means (是什么, 什么意思, 指的是什么, 包括哪些…), not any question word
#: ("“一点”由谁指导", "“一线”取得了什么成效" ask something else about it).
_ASKS_WHAT = re.compile(r"是(?:什么|啥)|什么意思|啥意思|含义|意思|是指|指(?:的是)?(?:什么|啥|哪)|内容"
                        r"|包括(?:哪|什么)|[讲说](?:的是)?(?:什么|啥)")


@dataclass(frozen=True)
class Cues:
    """What a question says about the text that answers it, beyond its words; retrieval uses them
    to rank blocks (qa.retrieve.Retriever.ranked_blocks).

    kind: the kind of answer asked (asked_kind), or None; holds_kind(text) tells whether a text
        holds one (a rank, a count, a year…; `gives`).
    definition: a sentence defining a term the question quotes and asks about (_definition), or
        None; defines(text) tells whether a text holds one.
    """

    question: str = ""
    kind: AnswerKind | None = None
    definition: re.Pattern | None = None

    def holds_kind(self, text: str) -> bool:
        return gives(self.kind, self.question, text)

    def defines(self, text: str) -> bool:
        return self.definition.search(normalize(text)) is not None


def _definition(terms: tuple[str, ...]) -> re.Pattern:
    """A sentence that defines one of the terms: “X”即, “X”是指, “X”指的是, “X”:, 所谓“X”, X即, X是指."""
    either = "|".join(map(re.escape, terms))
    return re.compile(rf"[“\"「『‘](?:{either})[”\"」』’]\s*[，,]?\s*(?:即|是指|指的是|就是|[:：])"
                      rf"|所谓\s*[“\"「『‘]?(?:{either})|(?<![\w])(?:{either})(?:即|是指|指的是)")


def cues(question: str) -> Cues:
    """The Cues of a question (normalised: Traditional folded to Simplified)."""
    terms = tuple(dict.fromkeys(m.group(1) for m in _QUOTED_ASKED.finditer(normalize(question))
                                if _ASKS_WHAT.search(m.group(2))))
    return Cues(question, asked_kind(question), _definition(terms) if terms else None)


def names(words) -> list[str]:
    """The words (2+ characters) that CC-CEDICT gives only as proper nouns: places, people,
    organisations (translate.proper_nouns)."""
    proper = proper_nouns()
    return [w for w in dict.fromkeys(words) if len(w) >= 2 and w in proper]


_UNSET = object()


def unanswered_reason(question: str, passage: str, unknown_names: list[str], kind=_UNSET) -> str | None:
    """Why the best passage cannot answer the question, or None when nothing says so.

    Args:
        unknown_names: names in the question that the knowledge base never mentions.
        kind: asked_kind(question), when the caller has it (Cues.kind).
    """
    if unknown_names:
        return f"the knowledge base never mentions {'、'.join(unknown_names)}"
    if kind is _UNSET:
        kind = asked_kind(question)
    if kind is not None and not gives(kind, question, passage):
        return f"the best passage gives no {kind.name}" + (f" in {kind.unit}" if kind.unit else "")
    return None
