"""qa.answerable: the kind of answer a question asks for, whether a passage gives it, and names the
knowledge base never mentions (what QA.ask makes of them: tests/test_core_engine.py)."""

from __future__ import annotations

import pytest

from qa.answerable import AnswerKind, asked_kind, gives, names, unanswered_reason


@pytest.mark.parametrize(("question", "kind"), [
    ("江湾国际公寓小区一共有多少户居民？", AnswerKind("count", "户")),
    ("新江湾城街道总面积是多少平方公里？", AnswerKind("count", "平方公里")),
    ("顾骏教授的调研团队一共有几个人？", AnswerKind("count")),  # 个 is generic: any number
    ("韓國的坦克數量有超過幾百輛？", AnswerKind("count")),  # Traditional, folded; 百 is a magnitude
    ("How many parking spaces are there?", AnswerKind("count")),
    ("杜娟副书记是哪一年调到新江湾城街道的？", AnswerKind("year")),
    ("研讨会是哪天举行的？", AnswerKind("date")),
    ("长宗我部家何时成为丰臣家的从属势力？", AnswerKind("time")),
    ("When did the seminar take place?", AnswerKind("time")),
    ("物业费每平米每月多少钱？", AnswerKind("price")),
    ("解锁要交多少罚款？", AnswerKind("price")),
    ("街道办事处的办公电话是多少？", AnswerKind("phone")),
    ("党建工作站设在哪个地址？", AnswerKind("address")),
    ("新江湾城是上海的第几个街道？", AnswerKind("rank")),
    ("赞成票占了多大比例？", AnswerKind("share")),
    ("What percentage of residents agreed?", AnswerKind("share")),
])
def test_the_kind_of_answer_asked(question, kind):
    assert asked_kind(question) == kind


@pytest.mark.parametrize("question", [
    "党建引领需要协同哪几种机制？",  # which ones, not how many
    "几年前雍景苑碰到过啥管理上的麻烦？",  # some years ago
    "好几次把外国人当成新闻的报纸叫什么？",  # several times
    "物理光學比幾何光學更接近什麼？",  # 几何: geometry
    "带领几个同伙建立了哪个国家？",  # the count is said in passing: it asks 哪个
    "What principle guided the Party when it backed the new rules?",  # when: a conjunction here
    "什么是三驾马车？",
])
def test_questions_that_ask_for_no_particular_kind(question):
    assert asked_kind(question) is None


def test_a_count_needs_a_number_in_its_unit_and_a_date_counts_nothing():
    households = AnswerKind("count", "户")
    assert gives(households, "小区有多少户？", "小区共有三百二十户居民。")
    assert gives(households, "小区有多少户？", "小区共有1,200多户居民。")
    assert not gives(households, "小区有多少户？", "小区共有三个出入口。")
    anything = AnswerKind("count")
    assert gives(anything, "团队有几个人？", "团队由五名教授组成。")
    assert gives(anything, "团队有几个人？", "团队共12人。")
    assert not gives(anything, "团队有几个人？", "2018年4月29日，团队开始调研。")
    assert gives(anything, "须经多少业主同意？", "须经三分之二以上业主同意。")
    assert gives(anything, "须经多少业主同意？", "须经过半数业主同意。")
    assert gives(AnswerKind("count", "米"), "全长是多少米？", "全长通常只有2cm。")  # a Latin unit


def test_what_the_question_itself_says_is_no_answer():
    year = AnswerKind("year")
    assert not gives(year, "2018年以后，他是哪一年调来的？", "2018年以后，他一直在街道工作。")
    assert gives(year, "2018年以后，他是哪一年调来的？", "2018年以后，他于2020年调来。")
    assert not gives(year, "研讨会是哪一年举行的？", "研讨会于4月29日举行。")  # a day is no year
    assert gives(AnswerKind("date"), "研讨会是哪天举行的？", "研讨会于4月29日举行。")
    assert gives(AnswerKind("time"), "何时成为从属势力？", "四国征伐后成为丰臣家的从属势力。")
    assert asked_kind("图书室几点开门？") == AnswerKind("time")
    assert gives(AnswerKind("time"), "图书室几点开门？", "图书室每天上午九点开门。")
    assert gives(AnswerKind("time"), "几点开门？", "开放时间 8:30 至 17:00。")
    assert gives(AnswerKind("date"), "哪天闭馆？", "每周一闭馆。")
    assert gives(AnswerKind("date"), "新规实施后哪天出的事？", "新规实施第三天就出了事。")  # the Nth day
    assert not gives(AnswerKind("date"), "新规实施后哪天出的事？", "新规实施三天后就出了事。")


def test_four_digits_standing_alone_are_a_year():
    year = AnswerKind("year")
    for passage in ("面向2035,对标全球领先城市。", "2008奥运会在北京举办。", "It should be finished by 2035.",
                    "分别在2008，2012举办。", "开幕日期为2035-01-01。"):
        assert gives(year, "哪一年？", passage), passage
    assert gives(year, "哪一年举办？", "2008，2012两届")
    assert gives(year, "2008年以后哪一年？", "2008，2012两届")
    assert gives(AnswerKind("time"), "什么时候建成？", "预计2030建成。")
    # each of these is turned away by one rule only: a longer number, a decimal, a thousands group,
    # a Latin word, 第, a share, a count with or without 多/余, 左右
    for passage in ("编号12035。", "编号20350。", "指数20.2035。", "指数2035.5。", "共2035,500元。",
                    "型号a1999。", "全长2035km。", "占比2035%。", "第1900号。", "约1600余人。",
                    "约1800多万。", "约2000左右。", "共2035人。"):
        assert not gives(year, "哪一年开始？", passage), passage


def test_a_year_standing_alone_and_a_vague_amount_are_no_count():
    anything, times = AnswerKind("count"), AnswerKind("count", "次")
    assert not gives(anything, "一共有多少个居民区？", "面向2035,对标全球领先城市。")
    assert gives(anything, "一共有多少个居民区？", "面向2035,共有12个居民区。")
    assert gives(anything, "一共有多少人？", "约1600余人。")  # not a year: a count
    assert gives(anything, "一共有多少人？", "共2035人。")
    assert gives(AnswerKind("count", "年"), "于西元几年成立？", "于1995年成立。")  # 几年: which year
    for vague in ("经过多次协商，又分成多类主体。", "数次调解后达成一致。", "面对多元主体。"):
        assert not gives(anything, "一共有多少人？", vague), vague
    assert gives(times, "协商了几次？", "经过多次协商。")  # the text's own answer, in the unit asked
    assert gives(anything, "有几位专家参加？", "多位专家参加了研讨。")  # ... or in the classifier asked
    assert not gives(anything, "有几个部门参与？", "多位专家参加了研讨。")
    assert gives(anything, "一共有多少？", "已有三百年历史。")  # 三百: a count, not a year
    for about in ("约三十余人。", "来了十来个。"):
        assert gives(anything, "一共有多少？", about), about
    assert gives(anything, "一共有多少？", "人数达1999人。")
    assert not gives(anything, "一共有多少？", "人数达1999。")  # taken for a year
    price = AnswerKind("price")
    assert not gives(price, "收费多少钱？", "面对多元主体。")
    assert gives(price, "收费多少钱？", "每次收费二十多元。") and gives(price, "收费多少钱？", "收费5多元。")
    assert asked_kind("经过几年摸索，给出的答案到底是啥？") is None  # 啥 (什么) is what is asked
    for counted in ("经过三十多次协商。", "数十次调解后达成一致。", "十几次会议。"):
        assert gives(anything, "一共有多少？", counted), counted
        assert gives(times, "协商了几次？", counted), counted


def test_prices_phones_and_addresses():
    assert gives(AnswerKind("price"), "充电每度多少钱？", "每度电收费一元五角。")
    assert not gives(AnswerKind("price"), "充电每度多少钱？", "小区设有二十个充电桩。")
    assert gives(AnswerKind("phone"), "电话是多少？", "请致电 021-6543 2100 预约。")
    assert not gives(AnswerKind("phone"), "电话是多少？", "请在工作日预约。")
    assert gives(AnswerKind("address"), "设在哪个地址？", "工作站设在政悦路318号。")
    assert not gives(AnswerKind("address"), "设在哪个地址？", "工作站由街道党工委设立。")
    assert asked_kind("睦邻中心在哪条路上？") == AnswerKind("address")
    assert gives(AnswerKind("address"), "睦邻中心在哪条路上？", "睦邻中心位于政立路。")
    assert not gives(AnswerKind("address"), "睦邻中心在哪条路上？", "探索出一条有效路径。")
    for question in ("几个服务站分别在哪几条路上？", "在哪些街？"):  # which roads, several
        assert asked_kind(question) == AnswerKind("address")
    for question in ("坐哪路车？", "坐哪几路公交能到？", "走哪条路线最快？", "这是哪条路子？",
                     "杨浦区有哪些街道？", "哪些路口要改造？"):  # buses, a route, a way, subdistricts
        assert asked_kind(question) is None, question
    assert not gives(AnswerKind("count"), "团队有几个人？", "团队提出了一个新的办法。")  # 一个: "a"
    assert not gives(AnswerKind("count"), "团队有几个人？", "走出一条新路，也是一项创新。")
    assert gives(AnswerKind("count"), "团队有几个人？", "团队共一百二十人。")


def test_names_are_proper_nouns_only():
    assert names(["深圳", "小区", "东西", "城市", "清华大学", "五角场", "#深圳", "~shenzhen"]) == \
        ["深圳", "清华大学", "五角场"]
    assert unanswered_reason("深圳的小区怎么停车？", "小区停车……", ["深圳"]) == \
        "the knowledge base never mentions 深圳"
    assert unanswered_reason("小区有多少户？", "小区共有三百户。", []) is None
    assert "count" in unanswered_reason("小区有多少户？", "小区绿化很好。", [])


def test_the_kind_the_cues_carry_is_the_kind_asked():
    from qa.answerable import cues

    for question in ("小区有多少户？", "哪一年建成的？", "三驾马车指什么？", "How many residents?"):
        hints = cues(question)
        assert hints.kind == asked_kind(question)
        if hints.kind is not None:
            assert hints.holds_kind("小区共有三百户。") == gives(hints.kind, question, "小区共有三百户。")
        for passage in ("小区共有三百户。", "小区绿化很好。", "2018年建成。"):
            assert unanswered_reason(question, passage, [], hints.kind) == \
                unanswered_reason(question, passage, [])


@pytest.mark.parametrize(("kind", "question", "passage", "given"), [
    # a number after 第 is a rank, not a count
    (AnswerKind("count"), "街道下面有多少个居民区？", "这里是上海的第100个街道。", False),
    (AnswerKind("count"), "街道下面有多少个居民区？", "这是第三代国际社区。", False),
    (AnswerKind("count"), "街道下面有多少个居民区？", "第1个居民区成立后，又建了12个。", True),
    (AnswerKind("count", "批"), "一共聘了几批专家？", "第二批专家已经到位。", False),
    (AnswerKind("rank"), "新江湾城是上海的第几个街道？", "这里是上海的第100个街道。", True),
    (AnswerKind("rank"), "他排第几？", "他在比赛中夺得冠军。", True),
    (AnswerKind("rank"), "他排第几？", "比赛共有12名选手。", False),
    (AnswerKind("share"), "赞成票占多大比例？", "方案获得90%以上的居民同意。", True),
    (AnswerKind("share"), "赞成票占多大比例？", "方案获得三分之二业主同意。", True),
    (AnswerKind("share"), "赞成票占多大比例？", "过半数业主投了赞成票。", True),
    (AnswerKind("share"), "男女生比例是多少？", "男女生比例约为1：7。", True),
    (AnswerKind("share"), "赞成票占多大比例？", "业主大会表决通过了门禁方案。", False),
])
def test_a_rank_is_no_count_and_a_share_is_a_percentage_a_fraction_or_a_ratio(kind, question, passage, given):
    assert gives(kind, question, passage) is given
