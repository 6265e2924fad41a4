"""The benchmark still runs end to end and prints its report (tiny sizes; no timing is asserted:
figures come from `make bench`)."""
import re
import subprocess
import sys

import pytest

from tests.support.project import REPO


@pytest.mark.mage
def test_bench_prints_a_line_per_way_and_the_ratio(postgres_server, tmp_path):
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path), **postgres_server}
    result = subprocess.run([sys.executable, '-m', 'tools.bench', '--events', '3000', '--tosql-events', '1000',
                             '--cache', str(tmp_path), '--engine', 'spark', '--spark-masters', 'local[1]'],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    for way in ('pipeline', 'floor', 'minimal', 'to_sql', r'spark local\[1\]'):
        assert any(re.match(rf'{way}\s+events=\d+\s+seconds=\s*[\d.]+\s+rows_per_s=\s*\d+\s+peak_rss_mb=', line)
                   for line in lines), f'no {way} line in:\n{result.stdout}'
    assert re.fullmatch(r'ratio_vs_minimal_floor=[\d.]+', lines[-2])
    assert re.fullmatch(r'ratio_vs_floor=[\d.]+ peak_rss_mb=\d+', lines[-1])
