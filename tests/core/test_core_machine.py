import os

from radsynth.core.machine import hardware_text


def test_hardware_text_names_cores_and_threads():
    text = hardware_text()
    assert text.endswith(f"{os.cpu_count()} CPU cores")
    assert hardware_text(3) == text + ", torch threads 3"
