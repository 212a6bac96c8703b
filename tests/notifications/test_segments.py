from notifications.segments import _GSM_BASIC, _GSM_EXTENSION, count_segments, encoding_for


def test_plain_ascii_is_gsm7_with_160_then_153_per_part() -> None:
    assert count_segments("a" * 160).segments == 1
    assert count_segments("a" * 161).segments == 2
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3
    assert count_segments("a" * 10).encoding == "gsm7"


def test_gsm_extension_characters_take_two_septets() -> None:
    count = count_segments("{" * 80)
    assert (count.encoding, count.units, count.segments) == ("gsm7", 160, 1)
    assert count_segments("€" * 81).segments == 2


def test_a_text_with_the_euro_sign_stays_gsm7_and_one_segment() -> None:
    """`€` is in the GSM-7 extension table: a short text with it is one 7-bit SMS (two
    septets for the sign). Sent as UCS-2, its 71 characters would be two segments."""
    text = "Refund of 30€ approved for case TS-20261123-0007."
    text = text + " Thank you" * 2 + "." * (71 - len(text) - 20)
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments) == ("gsm7", 72, 1)


def test_a_gsm7_text_is_one_segment_up_to_160_septets_not_153() -> None:
    """153 is the size of each part of a concatenated SMS; a single one holds 160."""
    assert count_segments("a" * 155).segments == 1
    assert count_segments("{" * 78).segments == 1  # 156 septets


def test_chinese_is_ucs2_with_70_then_67_per_part() -> None:
    assert count_segments("您" * 70) == count_segments("您" * 70)
    assert count_segments("您" * 70).segments == 1
    assert count_segments("您" * 71).segments == 2
    assert count_segments("您" * 134).segments == 2
    assert count_segments("您" * 135).segments == 3
    assert count_segments("您好").encoding == "ucs2"


def test_one_chinese_character_makes_the_whole_text_ucs2() -> None:
    count = count_segments("a" * 100 + "院")
    assert (count.encoding, count.units, count.segments) == ("ucs2", 101, 2)


def test_characters_outside_the_bmp_take_two_ucs2_units() -> None:
    assert count_segments("😀" * 35).units == 70
    assert count_segments("😀" * 36).segments == 2


def test_every_character_of_the_gsm_alphabet_is_gsm7_and_no_other_one_is() -> None:
    """The encoding is found by one regex over the text: each character of the basic and
    extension tables keeps a text 7-bit, any other character of Unicode makes it UCS-2."""
    alphabet = _GSM_BASIC | _GSM_EXTENSION
    for code in range(0x110000):
        c = chr(code)
        assert encoding_for(f"a{c}b") == ("gsm7" if c in alphabet else "ucs2"), hex(code)
