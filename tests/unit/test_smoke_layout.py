from tests.conftest import REPO


def test_tasks_py_only_imports_the_namespace() -> None:
    lines = [ln for ln in (REPO / "tasks.py").read_text().splitlines() if ln.strip()]
    code = [ln for ln in lines if not ln.lstrip().startswith(("#", '"""'))]
    assert code == [
        "import sys",
        "from shipyard.tasks import for_command_line",
        "ns = for_command_line(sys.argv)  # only the tasks this command line names",
    ]
