"""The offline model's grammar and answers, without a database (the web tests run it for real)."""

from agent.offline import HELP, parse, record_details, table


def test_help_lists_every_command() -> None:
    for command in (
        "add contact",
        "find contacts",
        "update contact",
        "delete contact",
        "move deal",
        "log call with",
        "show pipeline",
        "help",
    ):
        assert command in HELP
    assert parse("help").text == HELP


def test_unknown_text_says_so_and_how_to_enable_the_full_assistant() -> None:
    answer = parse("summarise my quarter").text or ""
    assert "did not understand" in answer and "ANTHROPIC_API_KEY" in answer


def test_commands_map_to_the_real_tools() -> None:
    plan = parse("add contact Ada Lovelace email ada@example.com")
    assert plan.action is not None
    assert plan.action(None) == (
        "create_contact",
        {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
    )
    move = parse("move deal Big One to Closed Won")
    assert move.lookup == ("search_deals", "Big One")
    assert move.action is not None
    assert move.action({"id": "d1"}) == (
        "move_deal_stage",
        {"deal_id": "d1", "stage": "Closed Won"},
    )
    update = parse("update contact Ada set title to CTO")
    assert update.action is not None
    assert update.action({"id": "c1"}) == (
        "update_contact",
        {"id": "c1", "changes": {"title": "CTO"}},
    )
    assert parse("update contact Ada set password to x").text is not None  # not a field


def test_markdown_tables_neutralise_cells() -> None:
    rendered = table([{"name": "a|b\nc"}], ("name",))
    assert rendered.splitlines()[-1] == "| a\\|b c |"


def test_details_quote_notes() -> None:
    text = record_details({"first_name": "Ada", "notes": "line one\nline two"}, "contacts")
    assert "> line one\n> line two" in text


def test_find_with_and_without_words() -> None:
    everything = parse("find contacts")
    assert everything.action is not None
    assert everything.action(None) == ("search_contacts", {"limit": 20})
    some = parse("list deals acme renewal")
    assert some.action is not None
    assert some.action(None) == ("search_deals", {"q": "acme renewal", "limit": 20})
    anywhere = parse("find acme")
    assert anywhere.action is not None
    assert anywhere.action(None) == ("search_records", {"q": "acme"})
