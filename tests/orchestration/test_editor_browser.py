"""The editor in a real headless browser (Debian's chromium, driven by Playwright without a
browser download): log in, open the pipeline, see its blocks, keep a screenshot."""
import shutil

import pytest

from tests.conftest import PIPELINE, REPO
from tests.helpers import copy_project
from tests.orchestration.mage_server import MageServer

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
ARTIFACTS = REPO / 'artifacts'
OWNER = ('owner@example.com', 'Test-owner-pw-1')
BLOCKS = ('load_users', 'load_user_interaction', 'stg_users', 'stg_user_interaction', 'orphan_events_by_type',
          'duplicate_events_by_date', 'visitors_by_country', 'valuable_users_by_age_group', 'answers',
          'publish_analytics', 'export_answers_report')


@pytest.fixture
def editor(base_env, tmp_path):
    repo = copy_project(tmp_path / 'repo')
    server = MageServer(base_env(repo / 'dataset'), tmp_path, OWNER, repo=repo)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_owner_logs_in_and_sees_the_pipeline_blocks(editor):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'])
        try:
            page = browser.new_page(viewport={'width': 1600, 'height': 1000})
            page.goto(f'{editor.url}/pipelines/{PIPELINE}/edit', timeout=60_000)
            page.wait_for_url('**/sign-in**', timeout=60_000)  # not logged in: sent to sign in
            page.get_by_placeholder('Email').fill(OWNER[0])
            page.get_by_placeholder('Password').fill(OWNER[1])
            page.screenshot(path=str(ARTIFACTS / 'editor_sign_in.png'))
            page.keyboard.press('Enter')
            page.wait_for_url('**/overview**', timeout=60_000)
            page.goto(f'{editor.url}/pipelines/{PIPELINE}/edit', timeout=60_000)
            for block in BLOCKS:
                page.get_by_text(block, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / 'editor_pipeline.png'), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / 'editor_pipeline.png').stat().st_size > 10_000
