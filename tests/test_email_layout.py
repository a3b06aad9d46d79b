"""The finished email in a real browser: readable from 320 to 800 px without sideways scrolling."""

import pytest
from browser import chromium
from conftest import run_digest

WIDTHS = [320, 375, 480, 600, 800]


@pytest.fixture(scope="module")
def built_sample(tmp_path_factory):
    from conftest import copy_sample

    root = copy_sample(tmp_path_factory.mktemp("layout") / "sample")
    assert run_digest("build", "--date", "2025-04-22", cwd=root).returncode == 0
    return root / "out" / "2025-04-22" / "digest.html"


def test_no_horizontal_scroll_from_320_to_800_px(built_sample):
    with chromium() as browser:
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 800})
            # images of the sample point at the network; block them, the layout must hold anyway
            page.route("**/*", lambda route: route.abort() if route.request.url.startswith("http")
                       else route.continue_())
            page.goto(built_sample.as_uri())
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{width}px viewport scrolls to {scroll_width}px"
            # the lead title and every blurb title are on screen, none wider than the viewport
            widest = page.evaluate(
                "Math.max(...[...document.querySelectorAll('h1, h3, p')]"
                ".map(e => e.getBoundingClientRect().right))"
            )
            assert widest <= width
            page.close()


def test_columns_stack_on_mobile_and_sit_centred_on_desktop(built_sample):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 800, "height": 800})
        page.goto(built_sample.as_uri())
        box = page.locator("h1").bounding_box()
        assert 80 <= box["x"] <= 130  # inside the 640 px centred column
        assert box["width"] <= 600
        page.set_viewport_size({"width": 320, "height": 800})
        box = page.locator("h1").bounding_box()
        assert box["x"] < 40 and box["width"] > 230  # the column now takes the screen
