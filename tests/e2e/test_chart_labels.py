"""The console's bar charts in Chromium with the console's own style sheet: department and KPI
names in English fit their label column (the width is estimated on the server, which has no
font metrics; a line of wide letters, "Unknown department", was cut at the left)."""

from __future__ import annotations

from pathlib import Path

import console
from console.charts import Bar, bar_chart
from tests.browser import VIEWPORT, chart_labels_cut

STYLE = Path(console.__file__).parent / "static" / "console.css"
NAMES = ("Unknown department", "Obstetrics and Gynaecology", "Ear, Nose and Throat",
         "Traditional Chinese Medicine", "Hospital Administration", "心内科", "CS")  # fmt: skip


async def test_long_english_department_names_fit_the_chart(browser) -> None:  # type: ignore[no-untyped-def]
    page = await browser.new_page(viewport=VIEWPORT)
    try:
        for name in NAMES:  # alone (the column as wide as the name), then all together
            for bars in ([Bar(name, 0.5, 0.9, False)], [Bar(n, 0.5, 0.9, False) for n in NAMES]):
                chart = bar_chart(bars, title="by department")
                await page.set_content(
                    f"<!doctype html><html lang='en'><head><style>{STYLE.read_text()}</style>"
                    f"</head><body><main><section class='panel'>{chart}</section></main></body></html>"
                )
                assert await chart_labels_cut(page) == [], name
    finally:
        await page.close()
