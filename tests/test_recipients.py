"""Readers and suppressions: one bad row is reported by its line and never strands the others."""

import csv
import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import log_lines
from hypothesis import given
from hypothesis import strategies as st

from digest.audience import addresses, recipients
from digest.audience.recipients import (
    Recipient,
    read_recipients,
    read_suppressions,
    split_line,
)
from digest.errors import ConfigError

DAY = "2025-04-22"


def read(tmp_path: Path, content: str | bytes, suppressed: set[str] = frozenset()):
    """(addresses read, {line: reason}) for a recipients.csv holding `content`."""
    path = tmp_path / "recipients.csv"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    problems = []
    readers = list(read_recipients(path, "recipients.csv", set(suppressed), problems.append))
    reasons = {}
    for problem in problems:
        where, _, line = problem.where.rpartition(":")
        assert where == "recipients.csv"
        assert int(line) not in reasons, f"line {line} reported twice"
        reasons[int(line)] = problem.message
    return readers, reasons


def emails(readers: list[Recipient]) -> list[str]:
    return [r.email for r in readers]


def suppressions(tmp_path: Path, content: str) -> set[str]:
    path = tmp_path / "unsubscribed.csv"
    path.write_text(content, encoding="utf-8")
    return read_suppressions(path)


HEADER = "email,name\n"
BEFORE = "avant@lecteurs.example,Avant\n"
AFTER = "apres@lecteurs.example,Après\n"


# -- each bad row, reported by its line and skipped alone -------------------------------------

def test_unbalanced_quote_skips_only_its_line(tmp_path):
    readers, reasons = read(tmp_path, HEADER + BEFORE + 'x@lecteurs.example,"Sans fin\n' + AFTER)
    assert emails(readers) == ["avant@lecteurs.example", "apres@lecteurs.example"]
    assert reasons == {3: 'unbalanced quote "Sans fin: close it on the same line; skipped'}


def test_name_split_over_two_lines_reports_both_and_keeps_the_rest(tmp_path):
    content = HEADER + BEFORE + 'x@lecteurs.example,"Deux\nlignes",y\n' + AFTER
    readers, reasons = read(tmp_path, content)
    assert emails(readers) == ["avant@lecteurs.example", "apres@lecteurs.example"]
    assert reasons[3].startswith("unbalanced quote")
    assert reasons[4].startswith('invalid address "lignes""')
    assert set(reasons) == {3, 4}


def test_field_over_64_kb_is_skipped(tmp_path):
    big = "x" * (100 * 1024)
    content = f"email,name,note\navant@lecteurs.example,A,court\nx@lecteurs.example,X,{big}\n"
    content += f'y@lecteurs.example,"{big}",z\n' + AFTER
    readers, reasons = read(tmp_path, content)
    assert emails(readers) == ["avant@lecteurs.example", "apres@lecteurs.example"]
    assert reasons == {3: 'field over 64 KB in column "note": shorten it; skipped',
                       4: "field over 64 KB in name: shorten it; skipped"}


def test_64_kb_is_counted_in_utf8_bytes(tmp_path):
    fits = "é" * (32 * 1024)  # 64 KB exactly
    over = fits + "é"
    content = HEADER + f"a@lecteurs.example,{fits}\nb@lecteurs.example,{over}\n"
    readers, reasons = read(tmp_path, content)
    assert emails(readers) == ["a@lecteurs.example"]
    assert reasons == {3: "field over 64 KB in name: shorten it; skipped"}


@pytest.mark.parametrize("character", ["\r", "\x00", "\x01", "\t", "\x1b", "\x1f", "\x7f", "\x85",
                                       "\x9f", "\u2028", "\u2029"])
def test_control_character_in_name_is_skipped(tmp_path, character):
    content = HEADER + BEFORE + f'x@lecteurs.example,"Nom{character}caché"\n' + AFTER
    readers, reasons = read(tmp_path, content)
    assert emails(readers) == ["avant@lecteurs.example", "apres@lecteurs.example"]
    assert reasons == {3: f"control character U+{ord(character):04X} in name: remove it; skipped"}


def test_control_character_in_any_column_is_skipped(tmp_path):
    content = ("email,name,quartier\n" + BEFORE + "x@lecteurs.example,X,Centre\x0bVille\n"
               + "y@lecteurs.example\x00,Y,Centre\n" + AFTER)
    readers, reasons = read(tmp_path, content)
    assert emails(readers) == ["avant@lecteurs.example", "apres@lecteurs.example"]
    assert reasons == {3: 'control character U+000B in column "quartier": remove it; skipped',
                       4: "control character U+0000 in email: remove it; skipped"}


def test_bad_and_empty_addresses_are_skipped(tmp_path):
    content = HEADER + BEFORE + "pas-une-adresse,X\n,Sans adresse\n   ,Blanc\n" + AFTER
    readers, reasons = read(tmp_path, content)
    assert emails(readers) == ["avant@lecteurs.example", "apres@lecteurs.example"]
    assert reasons[3].startswith('invalid address "pas-une-adresse": ')
    assert reasons[3].endswith("; skipped")
    assert reasons[4] == reasons[5] == "empty email; skipped"


def test_a_long_bad_address_is_shown_cut(tmp_path):
    readers, reasons = read(tmp_path, HEADER + "x" * 5000 + ",X\n" + AFTER)
    assert emails(readers) == ["apres@lecteurs.example"]
    assert reasons[2].startswith('invalid address "' + "x" * 80 + '…": ')


def test_line_over_the_read_limit_is_skipped_without_stranding_the_next(tmp_path, monkeypatch):
    monkeypatch.setattr(recipients, "LINE_LIMIT", 1000)
    content = HEADER + BEFORE + "x@lecteurs.example," + "y," * 2000 + "\n" + AFTER
    readers, reasons = read(tmp_path, content)
    assert emails(readers) == ["avant@lecteurs.example", "apres@lecteurs.example"]
    assert list(reasons) == [3] and reasons[3].startswith("line over")


def test_a_file_of_one_huge_line_is_read_in_bounds(tmp_path, monkeypatch):
    monkeypatch.setattr(recipients, "LINE_LIMIT", 1000)
    readers, reasons = read(tmp_path, HEADER + "x" * 10_000)
    assert readers == [] and list(reasons) == [2]


# -- line endings, encodings, the header ------------------------------------------------------

def test_crlf_and_lf_line_endings_give_the_same_rows_and_lines(tmp_path):
    rows = [HEADER, BEFORE, 'x@lecteurs.example,"Sans fin\n', '"Chérif, Nadia"@x,N\n', AFTER,
            "\n", "dernier@lecteurs.example,Dernier"]
    unix = read(tmp_path, "".join(rows))
    windows = read(tmp_path, "".join(rows).replace("\n", "\r\n"))
    assert emails(unix[0]) == emails(windows[0]) == [
        "avant@lecteurs.example", "apres@lecteurs.example", "dernier@lecteurs.example"]
    assert unix[1] == windows[1]
    assert set(unix[1]) == {3, 4}
    assert [r.name for r in windows[0]] == ["Avant", "Après", "Dernier"]


def test_a_cr_only_file_is_read_line_by_line(tmp_path):
    readers, reasons = read(tmp_path, "email,name\ra@x.example,A\rb,B\rc@x.example,C\r")
    assert emails(readers) == ["a@x.example", "c@x.example"]
    assert list(reasons) == [3]


def test_a_cr_inside_a_crlf_file_is_a_control_character(tmp_path):
    readers, reasons = read(tmp_path, "email,name\r\na@x.example,A\r\nb@x.example,B\rC\r\n"
                                      "c@x.example,C\r\n")
    assert emails(readers) == ["a@x.example", "c@x.example"]
    assert reasons == {3: "control character U+000D in name: remove it; skipped"}


def test_bom_blank_lines_extra_and_missing_columns(tmp_path):
    content = "\ufeffEmail , Nom ,Name\n\na@x.example,A,Anne,en trop\nb@x.example\n"
    readers, reasons = read(tmp_path, content)
    assert reasons == {}
    assert readers == [Recipient("a@x.example", "Anne", (("nom", "A"),)),
                       Recipient("b@x.example", "", (("nom", ""),))]


def test_invalid_utf8_does_not_stop_the_file(tmp_path):
    readers, reasons = read(tmp_path, b"email,name\na@x.example,\xe9t\xe9\nb@x.example,B\n")
    assert emails(readers) == ["a@x.example", "b@x.example"]


@pytest.mark.parametrize(("header", "message"), [
    ("name,adresse\n", "recipients.csv:1: no 'email' column; the first line must name the columns"),
    ('email,"name\n', 'recipients.csv:1: unbalanced quote "name: close it on the same line; the '
                      "first line must name the columns"),
    ("", "recipients.csv:1: no 'email' column"),
])
def test_a_bad_header_is_one_error_naming_the_line(tmp_path, header, message):
    with pytest.raises(ConfigError) as error:
        read(tmp_path, header + "a@x.example,A\n")
    assert str(error.value).startswith(message)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="recipients file not found"):
        list(read_recipients(tmp_path / "absent.csv", "absent.csv", set(), print))


# -- addresses, duplicates --------------------------------------------------------------------

def test_unicode_local_parts_and_domains_stay_valid(tmp_path):
    readers, reasons = read(tmp_path, HEADER + "jörg@bücher.example,Jörg\n"
                                               "lea@XN--CAF-DMA.example,Léa\n")
    assert reasons == {}
    assert emails(readers) == ["jörg@bücher.example", "lea@café.example"]


def test_duplicates_across_case_and_punycode_are_sent_once(tmp_path):
    content = (HEADER + "Carol@bücher.example,C1\nCAROL@xn--bcher-kva.example,C2\n"
               "carol@XN--BCHER-KVA.EXAMPLE,C3\n" + AFTER)
    readers, reasons = read(tmp_path, content)
    assert emails(readers) == ["Carol@bücher.example", "apres@lecteurs.example"]
    assert reasons == {3: "CAROL@bücher.example is already on line 2; sent once",
                       4: "carol@bücher.example is already on line 2; sent once"}


def test_key_of_an_ascii_address_is_the_lower_cased_address():
    # the ledger stores these keys: they must not change for existing readers
    assert Recipient("Camille.Ferrand@Example.org").key == "camille.ferrand@example.org"


# -- suppressions -----------------------------------------------------------------------------

def test_suppressions_one_per_line_with_names_and_idn(tmp_path):
    keys = suppressions(tmp_path, "\n".join([
        "bob@xn--bcher-kva.example",
        "alice@café.example",
        "Lecteur Un <Un@Lecteurs.Example>",
        '"Chérif, Nadia" <nadia@lecteurs.example>',
        "Chérif, Nadia <nadia2@lecteurs.example>",
        "pas une adresse",
        "<>",
        "x\x00y@lecteurs.example",
        "",
        "ancien@lecteurs.example,2024-01-01",
    ]))
    assert keys == {"bob@bücher.example", "alice@café.example", "un@lecteurs.example",
                    "nadia@lecteurs.example", "nadia2@lecteurs.example", "ancien@lecteurs.example"}


def test_suppressions_csv_with_email_column(tmp_path):
    keys = suppressions(tmp_path, 'date,Email,raison\n2025-01-01,Parti@Lecteurs.example,"a, b"\n'
                                  "2025-01-02,Zoé <zoe@xn--caf-dma.example>,x\n"
                                  '2025-01-03,"sans-fin@lecteurs.example\n'
                                  "2025-01-04,,autre@lecteurs.example\n")
    # an open quote still suppresses; an address outside the email column does not
    assert keys == {"parti@lecteurs.example", "zoe@café.example", "sans-fin@lecteurs.example"}


def test_suppressions_never_crash_on_garbage(tmp_path):
    path = tmp_path / "unsubscribed.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\r\n\"\"\"\n" + b"x" * 200_000 + b"\nok@x.example\n")
    assert read_suppressions(path) == {"ok@x.example"}
    assert read_suppressions(tmp_path / "absent.csv") == set()


def test_punycode_and_unicode_suppress_each_other(tmp_path):
    suppressed = suppressions(tmp_path, "bob@xn--bcher-kva.example\nAlice@CAFÉ.example\n")
    readers, reasons = read(tmp_path, HEADER + "bob@bücher.example,B\nalice@xn--caf-dma.example,A\n"
                                               + AFTER, suppressed)
    assert emails(readers) == ["apres@lecteurs.example"] and reasons == {}


# -- the line parser agrees with csv on every line csv reads as one record --------------------

@given(st.lists(st.text(alphabet='ab ,"é', max_size=12), max_size=5).map(",".join))
def test_split_line_matches_csv(line):
    fields, quote = split_line(line)
    if quote >= 0:
        # csv would go on reading the next line into that field
        assert len(list(csv.reader([line, "suite"]))) == 1
    elif line:
        assert fields == next(csv.reader([line]))


# -- through the real command -----------------------------------------------------------------

def sent_to(newsletter) -> Counter:
    """How many messages each address got from the file backend, read from the messages."""
    found = Counter()
    for path in (newsletter.root / "out" / DAY / "outbox").glob("*.eml"):
        header = re.search(rb"\?email=([^>\s]+)>", path.read_bytes())
        found[unquote(header.group(1).decode())] += 1
    return found


def test_hundreds_of_readers_with_bad_rows_and_idn_suppressions(newsletter):
    newsletter.article("une", title="La une")
    rows = [f"lecteur{i:06d}@lecteurs.example,Lecteur {i}," for i in range(300)]
    big = "x" * (100 * 1024)
    rows[4] = 'lecteur000004@lecteurs.example,"Lecteur 4,'  # unbalanced quote
    rows[9] = 'lecteur000009@lecteurs.example,"Lecteur\r9",'  # CR in a quoted name
    rows[19] = f"lecteur000019@lecteurs.example,Lecteur 19,{big}"  # 100 KB field
    rows[29] = "bob@bücher.example,Bob,"  # suppressed in punycode
    rows[39] = "alice@xn--caf-dma.example,Alice,"  # suppressed in Unicode
    rows[49] = "lecteur000049@lecteurs.example,Lecteur 49,"  # suppressed as Name <addr>
    rows[59] = "carol@bücher.example,Carol,"
    rows[69] = "CAROL@XN--BCHER-KVA.example,Carol bis,"  # the same reader
    (newsletter.root / "recipients.csv").write_text("email,name,note\n" + "\n".join(rows) + "\n",
                                                    encoding="utf-8")
    (newsletter.root / "unsubscribed.csv").write_text(
        "bob@xn--bcher-kva.example\nalice@café.example\n"
        "Lecteur 49 <Lecteur000049@lecteurs.example>\npas une adresse\n", encoding="utf-8")

    result = newsletter.run("send", "--date", DAY)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    addresses = [row.split(",")[0] for row in rows]
    left_out = {4, 9, 19, 29, 39, 49, 69}
    expected = [a for i, a in enumerate(addresses) if i not in left_out]
    copies = sent_to(newsletter)
    assert sorted(copies) == sorted(expected)
    assert set(copies.values()) == {1}
    assert f"sent {len(expected)}," in result.stdout
    warnings = [line for line in log_lines(result.stderr) if line.startswith("warning: ")]
    assert warnings == [
        'warning: recipients.csv:6: unbalanced quote "Lecteur 4,: close it on the same line; '
        "skipped",
        "warning: recipients.csv:11: control character U+000D in name: remove it; skipped",
        'warning: recipients.csv:21: field over 64 KB in column "note": shorten it; skipped',
        "warning: recipients.csv:71: CAROL@bücher.example is already on line 61; sent once",
    ]


BAD_READERS = ("email,name\n"
               "a@x.example,A\n"
               'b@x.example,"B\n'
               "c@x.example,C\u2028C\n"
               "d@x.example," + "d" * 70_000 + "\n"
               "pas-une-adresse,E\n"
               "A@X.example,A bis\n"
               "f@x.example,F\n")
BAD_LINES = {
    "recipients.csv:3": 'unbalanced quote "B: close it on the same line; skipped',
    "recipients.csv:4": "control character U+2028 in name: remove it; skipped",
    "recipients.csv:5": "field over 64 KB in name: shorten it; skipped",
    "recipients.csv:6": 'invalid address "pas-une-adresse": ',
    "recipients.csv:7": "A@x.example is already on line 2; sent once",
}


def test_check_shows_the_same_lines(newsletter):
    newsletter.article("une", title="La une")
    (newsletter.root / "recipients.csv").write_text(BAD_READERS, encoding="utf-8")
    result = newsletter.run("check")
    assert "Traceback" not in result.stderr
    shown = [line for line in result.stdout.splitlines() if line.startswith("recipients.csv")]
    assert len(shown) == len(BAD_LINES)
    for line, (where, message) in zip(shown, BAD_LINES.items(), strict=True):
        assert line.startswith(f"{where}: {message}")


def test_dry_run_shows_the_same_lines_and_counts_the_others(newsletter):
    newsletter.article("une", title="La une")
    (newsletter.root / "recipients.csv").write_text(BAD_READERS, encoding="utf-8")
    result = newsletter.run("send", "--date", DAY, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    shown = [line.removeprefix("warning: ") for line in log_lines(result.stderr)
             if line.startswith("warning: recipients.csv")]
    assert len(shown) == len(BAD_LINES)
    for line, (where, message) in zip(shown, BAD_LINES.items(), strict=True):
        assert line.startswith(f"{where}: {message}")
    assert "would send to 2 readers" in result.stdout


# -- the fast path agrees with email_validator --------------------------------------------------

TRICKY_ADDRESSES = [
    # plain, case, plus tags, dots
    "a@b.example", "Camille.Ferrand@Example.ORG", "lea+news@lecteurs.example",
    "x.y.z@sub.domain.example", "a_b-c@b-c.example", "o'brien@irl.example", "q=1?{x}|~@b.example",
    "#!$%&'*+-/=?^_`{|}~@b.example",
    # dots at the edges or doubled, in local part or domain
    ".a@b.example", "a.@b.example", "a..b@b.example", "a@.b.example", "a@b..example",
    "a@b.example.", "a@b.example..", "a@-b.example", "a@b-.example", "a@b.-c.example",
    # case-insensitive mailbox names, which email_validator lower-cases
    "Postmaster@b.example", "ABUSE@b.example", "www@b.example", "postmaster.x@b.example",
    # internationalized domains, in Unicode and in punycode, in any case
    "bob@bücher.example", "bob@xn--bcher-kva.example", "bob@XN--BCHER-KVA.EXAMPLE",
    "bob@BÜCHER.example", "bob@ＢＵＣＨＥＲ.example", "bob@bücher。example", "a@straße.example",
    "a@xn--strae-oqa.example", "a@xn--zz.example", "a@xn--.example", "a@xn--a.example",
    "a@ab--c.example", "a@日本語.jp", "a@xn--wgv71a119e.jp", "a@٠١٢.example",
    "a@xn--mgba3a4f16a.ir", "a@1.xn--4dbc.com", "a@e\u0301cole.example", "a@\u0301b.example",
    "a@\u200db.example", "a@b\u00ad.example", "a@⒈.example", "a@b\u2024c.example",
    # unicode local parts
    "jörg@bücher.example", "jörg@b.example", "JÖRG@b.example", "e\u0301@b.example",
    "\u0301e@b.example", "a\u200bb@b.example", "δοκιμή@παράδειγμα.δοκιμή", "用户@例子.广告",
    # quoted local parts, display names, angle brackets
    '"a b"@b.example', '"a"@b.example', '"a@b"@c.example', "a\"b@c.example",
    "Bob <bob@b.example>", "<bob@b.example>", "a<b@c.example", "a@b<c>.example",
    # IP literals, special domains, missing parts
    "a@[1.2.3.4]", "a@[IPv6:::1]", "a@1.2.3.4", "a@localhost", "a@b.local", "a@b.test",
    "a@invalid", "a@b.arpa", "a@b", "a@b.123", "@b.example", "a@", "a", "", "@", "a@@b.example",
    "a@b@c.example", "＠b.example", "a＠b.example",
    # whitespace
    " a@b.example", "a@b.example ", "a @b.example", "a@ b.example", "a@b .example", "a\t@b.example",
    "a@b.example\n", "a\u00a0@b.example", "a@b\u3000c.example",
    # lengths: 64-character local part and beyond, 63-character labels and beyond, 254 in all
    "a" * 64 + "@b.example", "a" * 65 + "@b.example", "a" * 240 + "@b.example",
    "a" * 243 + "@b.example", "a" * 244 + "@b.example", "a@" + "b" * 63 + ".example",
    "a@" + "b" * 64 + ".example", "a@" + ".".join(["b" * 60] * 4) + ".ex",
    "a@" + ".".join(["b" * 61] * 4) + ".ex", "a" * 200 + "@" + "ü" * 40 + ".example",
    "a" * 190 + "@" + "ü" * 40 + ".example", "a" * 180 + "@" + "ü" * 30 + ".example",
    "a" * 150 + "@" + "ü" * 30 + ".example",
]


def reference(address: str) -> tuple[str | None, str]:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address, check_deliverability=False).normalized, ""
    except EmailNotValidError as error:
        return None, str(error)


@pytest.mark.parametrize("address", TRICKY_ADDRESSES)
def test_check_address_is_email_validator(address):
    assert addresses.check_address(address) == reference(address)


@given(st.text(alphabet="aZ0.+-_\"@<> éÜß\u0301\u200d。xn", max_size=14),
       st.sampled_from(["b.example", "B.Example", "bücher.example", "xn--bcher-kva.example",
                        "b..example", "[1.2.3.4]", "b", "b.example.", "straße.example"]))
def test_check_address_is_email_validator_for_generated_addresses(local, domain):
    for address in (f"{local}@{domain}", local):
        assert addresses.check_address(address) == reference(address)


def test_plain_addresses_are_checked_once_per_domain(monkeypatch):
    import email_validator

    calls = []
    real = email_validator.validate_email

    def counted(address, **options):
        calls.append(address)
        return real(address, **options)

    monkeypatch.setattr(email_validator, "validate_email", counted)
    addresses.checked_domain.cache_clear()
    for i in range(300):
        domain = ["a.example", "bücher.example", "xn--caf-dma.example"][i % 3]
        assert addresses.check_address(f"Lecteur.{i}+x@{domain}")[0] is not None
    assert len(calls) == 3


@given(st.lists(st.sampled_from(["email", "name", "nom", "", "Name", " email "]), min_size=1,
                max_size=5),
       st.lists(st.lists(st.sampled_from(["", " a ", "b", "c d"]), max_size=6), max_size=5))
def test_each_row_gives_its_columns_as_csv_reads_them(tmp_path_factory, header, rows):
    """Any header (columns named twice, unnamed, fewer or more fields than columns): a
    reader's name and other columns are those of csv.DictReader, the last of a name used
    twice, the columns in the header's order."""
    columns = [c.strip().lower() for c in header]
    if "email" not in columns:
        return
    tmp_path = tmp_path_factory.mktemp("rows")
    lines = [",".join(header)] + [",".join([f"r{i}@x.example", *fields])
                                  for i, fields in enumerate(rows)]
    readers, reasons = read(tmp_path, "\n".join(lines) + "\n")
    expected = []
    for record in csv.reader(lines[1:]):
        values = dict(zip(columns, (f.strip() for f in record), strict=False))
        row = {c: values.get(c, "") for c in columns if c}
        if not row["email"] or "@" not in row["email"]:
            continue
        extra = tuple((k, v) for k, v in row.items() if k not in ("email", "name"))
        expected.append(Recipient(row["email"], row.get("name", ""), extra))
    assert readers == expected


def test_a_section_the_newsletter_does_not_have_is_reported_with_its_line(newsletter):
    newsletter.article("une", "Le texte de la une. " * 30, title="La une", lead=True)
    newsletter.add_config("""
        [sections.sport]
        label = "Sport"

        [sections.vie-locale]
        label = "Vie locale"
        """)
    (newsletter.root / "recipients.csv").write_text(
        "email,name,sections\n"
        "a@lecteurs.example,A,sport\n"
        "b@lecteurs.example,B,sport;vie-locale\n"
        "c@lecteurs.example,C,\n"
        "d@lecteurs.example,D,sport;culture\n", encoding="utf-8")
    check = newsletter.run("check")
    assert 'recipients.csv:5: unknown section "culture" (digest.toml has sport, vie-locale); ' \
        "ignored" in check.stdout
    assert "recipients.csv:2" not in check.stdout and "recipients.csv:3" not in check.stdout
    sent = newsletter.run("send", "--date", "2025-04-22")
    assert sent.returncode == 0 and 'recipients.csv:5: unknown section "culture"' in sent.stderr
    assert len(list((newsletter.root / "out" / "2025-04-22" / "outbox").glob("*.eml"))) == 4
