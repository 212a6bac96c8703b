"""An edited template is code a supervisor writes, run in the service's event loop when it is
saved and for every message: each of these was a 500, a NUL or surrogate in every message
(which PostgreSQL or UTF-8 refuse), or a rendering that took the memory or never ended."""

from __future__ import annotations

import pytest

from notifications.templates import DEFAULT_TEMPLATES, TemplateInvalid, check

LONG = "x" * 300

REFUSED = {
    "division": "{{ 1/0 }}",
    "format-type": '{{ "%d" % hospital }}',
    "nul": '{{ "a\\u0000" }}',
    "surrogate": '{{ "\\ud800" }}',
    "repeat": '{{ "x" * 10**9 }}',
    "power": "{{ ((10**64)**64)**64 }}",
    "ranges": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "width-method": "{{ hospital.ljust(10**9) }}",
    "width-filter": "{{ hospital|center(10**9) }}",
    "width-format": '{{ "{:>999999999}".format(1) }}',
    "literal-loops": "".join(f'{{% for {v} in "{LONG}" %}}' for v in "abc")
    + "{% endfor %}" * 3
    + "x",
    "macros": "{% macro m() %}x{% endmacro %}{{ m() }}",
}


@pytest.mark.parametrize("body", REFUSED.values(), ids=REFUSED.keys())
def test_a_template_that_fails_or_runs_without_bound_is_refused(body: str) -> None:
    with pytest.raises(TemplateInvalid):
        check(body)


def test_the_defaults_and_ordinary_edits_still_render() -> None:
    for template in DEFAULT_TEMPLATES:
        assert check(template.body)
    assert check("{{ hospital|truncate(10) }} {{ 2 * 3 }} {{ 7 % 3 }} {{ 2 ** 10 }}")
    assert check("{% for i in items %}{{ loop.index }}. {{ i|default('-') }}{% endfor %}")
