"""The README: the Quick start is two commands, and its runnable examples run."""

import re
import subprocess
import sys
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_quick_start_is_two_commands():
    section = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) == 2
    assert lines[0].endswith("xncost table5") and "torch==2.13.0" in lines[0]
    assert "pytest" in lines[1] and "[test]" in lines[1]


def test_runnable_examples_run(tmp_path):
    blocks = re.findall(
        r"<!-- runnable -->\n```python\n(.*?)```(?:\n\nprints\n\n```\n(.*?)```)?", README, re.S
    )
    assert blocks
    for i, (code, expected) in enumerate(blocks):
        script = tmp_path / f"example{i}.py"
        script.write_text(code)
        p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300)
        assert p.returncode == 0, p.stderr
        if expected:
            assert p.stdout == expected
