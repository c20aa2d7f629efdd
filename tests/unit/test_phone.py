"""Phone numbers are one identity: every way of writing a number gives one E.164 key."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.ratelimit import account_key
from domain.users import normalise_phone

# Indonesian mobile numbers: 08 + operator prefix + 7 to 9 digits (Telkomsel 0811-0813,
# 0821-0823, 0851-0853; Indosat 0814-0816, 0855-0858; XL 0817-0819, 0859, 0877-0878; ...).
PREFIXES = ["811", "812", "813", "814", "815", "816", "817", "818", "819", "821", "822", "823",
            "851", "852", "853", "855", "856", "857", "858", "859", "877", "878", "895", "896"]  # fmt: skip
SEPARATORS = st.sampled_from(["", "", "", " ", "-", ".", "\u00a0", "  "])


@st.composite
def written_forms(draw: st.DrawFn) -> tuple[str, list[str]]:
    national = draw(st.sampled_from(PREFIXES)) + draw(st.text("0123456789", min_size=7, max_size=8))
    canonical = "+62" + national

    def spaced(digits: str) -> str:
        out = ""
        for i, d in enumerate(digits):
            out += d + (draw(SEPARATORS) if i < len(digits) - 1 else "")
        return out

    forms = [
        "+62" + draw(SEPARATORS) + spaced(national),
        "62" + draw(SEPARATORS) + spaced(national),
        "0" + spaced(national),
        "(0" + national[:3] + ") " + spaced(national[3:]),
        "0062 " + spaced(national),
        "+62 (0)" + spaced(national),
        "\uff0b62" + national,  # a full-width plus from a phone keyboard
        " " + "0" + spaced(national) + " ",
    ]
    return canonical, forms


@given(written_forms())
def test_every_written_form_maps_to_one_key(case: tuple[str, list[str]]) -> None:
    canonical, forms = case
    assert normalise_phone(canonical) == canonical
    for form in forms:
        assert normalise_phone(form) == canonical, form
    # ... and so to one rate-limit key for an unknown login.
    assert {account_key(None, normalise_phone(f) or "") for f in forms} == {account_key(None, canonical)}


@given(st.text(max_size=40))
def test_anything_else_is_a_number_or_nothing(text: str) -> None:
    phone = normalise_phone(text)
    assert phone is None or (phone.startswith("+") and phone[1:].isdigit() and len(phone) <= 16)


def test_not_numbers() -> None:
    for junk in ("12ab", "", "+", "0812", "08123456789012345678", "+1 555", "abc@example.id"):
        assert normalise_phone(junk) is None, junk
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"  # other countries keep theirs
