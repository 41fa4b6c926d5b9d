import json
from pathlib import Path

import pytest
from django.core.management import call_command
from hypothesis import given, settings as hsettings, strategies as st

from attribution.links import LinkError, link_build, link_lint, links_scan
from attribution.ruleset import ruleset_build

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def ruleset():
    return ruleset_build()


def codes(url, ruleset):
    return sorted({f.code for f in link_lint(url, ruleset=ruleset)})


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        call_command("lint_utms", *args)
    return exit_info.value.code, capsys.readouterr()


def test_the_seed_examples_are_flagged_for_the_right_reasons(capsys):
    code, out = run(capsys, str(FIXTURES / "seed_examples.md"), "--format", "json")
    assert code == 1
    findings = json.loads(out.out)
    by_line = {}
    for f in findings:
        by_line.setdefault(f["line"], set()).add(f["code"])
    # "<platform>" placeholders end the URL at "<": the template is reported as unfinished.
    assert by_line[4] == {"empty-value", "missing-parameter"}
    assert by_line[7] == {"campaign-convention"}  # utm_campaign=january has no yyyymm
    assert {"banned-value", "campaign-convention"} <= by_line[10]  # utm_source=website
    assert by_line[13] == {"missing-parameter"}  # utm_term only
    assert findings[0]["file"].endswith("seed_examples.md") and findings[0]["col"] == 1


def test_clean_files_exit_zero_and_other_domains_are_ignored(capsys):
    call_command("lint_utms", str(FIXTURES / "clean.md"))
    assert "2 links checked, 0 findings" in capsys.readouterr().err


def test_text_format_is_file_line_col(capsys):
    code, out = run(capsys, str(FIXTURES))
    assert code == 1
    first = out.out.splitlines()[0]
    assert first.startswith(f"{FIXTURES / 'seed_examples.md'}:4:1: ")


def test_missing_path_is_a_clear_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such file"):
        call_command("lint_utms", "/nope/missing.md")


@pytest.mark.parametrize("query,expected", [
    ("utm_source=linkedin&utm_medium=social&utm_campaign=spring_202606", []),
    ("utm_source=LinkedIn&utm_medium=social&utm_campaign=spring_202606", ["not-normalized"]),
    ("utm_source=lnkd.in&utm_medium=social&utm_campaign=spring_202606", ["alias"]),
    ("utm_source=sourcebook&utm_medium=social&utm_campaign=spring_202606", ["banned-value"]),
    ("utm_source=&utm_medium=social&utm_campaign=spring_202606", ["empty-value"]),
    ("utm_source=a&utm_source=b&utm_medium=social&utm_campaign=spring_202606", ["duplicate-parameter"]),
    ("utm_source=linked+in&utm_medium=social&utm_campaign=spring_202606", ["source-token"]),
    ("utm_source=linkedin&utm_medium=social&utm_campaign=spring_202613", ["campaign-convention"]),
    ("utm_medium=social", ["missing-parameter"]),
    ("UTM_SOURCE=linkedin&utm_medium=social&utm_campaign=spring_202606", ["not-normalized"]),
])
def test_each_rule(ruleset, query, expected):
    assert codes(f"https://calendly.com/acme/demo?{query}", ruleset) == expected


def test_the_builder_refuses_with_reasons(ruleset):
    with pytest.raises(LinkError) as error:
        link_build(base_url="https://calendly.com/acme/demo", source="website", medium="", campaign="january", ruleset=ruleset)
    assert {f.code for f in error.value.findings} == {"banned-value", "missing-parameter", "campaign-convention"}
    with pytest.raises(LinkError) as error:
        link_build(base_url="https://calendly.com/acme/demo", source="lnkd.in", medium="social", campaign="x_202606", ruleset=ruleset)
    assert "use 'linkedin'" in str(error.value)


def test_the_builder_keeps_other_parameters_and_replaces_old_utms(ruleset):
    url = link_build(base_url="https://calendly.com/acme/demo?month=2026-06&utm_source=old", source=" LinkedIn ",
                     medium="social", campaign="spring_202606", ruleset=ruleset)
    assert url == "https://calendly.com/acme/demo?month=2026-06&utm_source=linkedin&utm_medium=social&utm_campaign=spring_202606"


token = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


@hsettings(max_examples=60, deadline=None)
@given(source=token, medium=token, topic=token, year=st.integers(2000, 2099), month=st.integers(1, 12),
       line=st.integers(0, 5), prefix=st.text(alphabet=" xyz#*", max_size=6))
def test_a_built_link_lints_clean_and_is_found_where_it_is(source, medium, topic, year, month, line, prefix):
    ruleset = ruleset_build()
    try:
        url = link_build(base_url="https://calendly.com/acme/demo", source=source, medium=medium,
                         campaign=f"{topic}_{year}{month:02d}", ruleset=ruleset)
    except LinkError as exc:  # a generated token can be a banned value or an alias: refused for a reason
        assert {f.code for f in exc.findings} <= {"banned-value", "alias"}
        return
    assert link_lint(url, ruleset=ruleset) == []
    text = "\n" * line + prefix + " " + url + ".\n"
    [hit] = list(links_scan(text, domains=["calendly.com"]))
    assert (hit.line, hit.col, hit.url) == (line + 1, len(prefix) + 2, url)


@hsettings(max_examples=100, deadline=None)
@given(st.text())
def test_the_linter_never_crashes_on_arbitrary_text(text):
    ruleset = ruleset_build()
    for hit in links_scan(text, domains=["calendly.com"]):
        link_lint(hit.url, ruleset=ruleset)
