"""The editor in a real headless browser (Debian's chromium, driven by Playwright without a
browser download), started the way `make editor` starts it, on a port other than Mage's default:
log in at the address it prints, open the pipeline, see its blocks, run the Q2 chart and check
the bars it draws. Screenshots are kept in artifacts/."""
import json
import re
import shutil
import sys

import pytest

from mage_project.models.sql import block_uuids
from tests.support.mage_server import MageServer, free_port
from tests.support.processes import EditorKernel
from tests.support.project import PIPELINE, REPO, copy_project

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
ARTIFACTS = REPO / 'artifacts'
OWNER = ('owner@example.com', 'Tq9-vL2x_Pw7Zr')
BLOCKS = tuple(block_uuids())  # every block, in pipeline order
BAR = 'rect[pointer-events="none"]'  # the bars Mage's bar chart (visx) draws


pytestmark = [pytest.mark.server, pytest.mark.browser]


@pytest.fixture
def editor(base_env, tmp_path):
    repo = copy_project(tmp_path / 'repo')
    env = base_env(repo / 'dataset', {'MAGE_DATA_DIR': str(tmp_path / 'mage_data')})
    # The blocks run in the editor's kernel first, so their outputs are there for the charts.
    kernel = EditorKernel(repo, env)
    try:
        for block in BLOCKS[:8]:
            assert kernel.run(block) == 'OK', block
    finally:
        kernel.close()
    port = free_port()
    assert port != 6789
    owner_env = dict(env, MAGE_OWNER_EMAIL=OWNER[0], MAGE_OWNER_PASSWORD=OWNER[1])
    server = MageServer(owner_env, tmp_path, OWNER, repo=repo, port=port,
                        command=[sys.executable, '-m', 'tools.editor', str(port)])
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_editor_on_any_port_shows_the_blocks_and_the_q2_chart(editor):
    from playwright.sync_api import sync_playwright

    url = re.search(r'Mage editor: (http://\S+)', editor.log_path.read_text())[1]
    assert url == f'http://127.0.0.1:{editor.port}'
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'])
        try:
            page = browser.new_page(viewport={'width': 1600, 'height': 1000})
            page.goto(f'{url}/pipelines/{PIPELINE}/edit', timeout=60_000)
            page.wait_for_url('**/sign-in**', timeout=60_000)  # not logged in: sent to sign in
            page.get_by_placeholder('Email').fill(OWNER[0])
            page.get_by_placeholder('Password').fill(OWNER[1])
            page.screenshot(path=str(ARTIFACTS / 'editor_sign_in.png'))
            page.keyboard.press('Enter')
            page.wait_for_url('**/overview**', timeout=60_000)
            page.goto(f'{url}/pipelines/{PIPELINE}/edit', timeout=60_000)
            for block in BLOCKS:
                page.get_by_text(block, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / 'editor_pipeline.png'), full_page=True)

            page.goto(f'{url}/pipelines/{PIPELINE}/edit?sideview=charts', timeout=60_000)
            card = page.locator('[class*=ChartBlockStyle]').filter(has_text='chart_duplicate_events_by_date')
            card.wait_for(timeout=60_000)
            card.scroll_into_view_if_needed()
            card.locator('button').first.click()  # run the chart
            card.locator(BAR).first.wait_for(timeout=120_000)
            card.screenshot(path=str(ARTIFACTS / 'editor_chart_duplicate_events_by_date.png'))
            heights = [float(bar.get_attribute('height')) for bar in card.locator(BAR).all()]
        finally:
            browser.close()
    # One bar per date with surplus copies, none at zero, the planted date's spike first.
    copies = sorted(truths['duplicate_events_by_date'].values(), reverse=True)
    assert len(heights) == len(copies), heights
    assert all(height > 0 for height in heights)
    assert heights[0] == max(heights) and heights[0] > 5 * heights[1], heights
