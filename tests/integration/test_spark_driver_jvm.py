"""A driver's JVM dies with its Python process, even when something else still holds the
JVM's stdin pipe (pyspark's own safeguard): kill -9 of a stream's driver left its JVM
running for 24 minutes before `build_spark_session` asked the kernel for a parent-death
signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from quantcore.polling import wait_until
from quantcore_platform.services.process import pid_alive

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

DRIVER = textwrap.dedent("""
    import os, sys, time
    from quantcore.settings import load_settings
    from quantcore.spark_session import build_spark_session
    settings = load_settings(home=sys.argv[1], spark_master="local[1]")
    spark = build_spark_session(settings.spark, settings.paths, "jvm-lifetime")
    jvm = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    if os.fork() == 0:  # a child that inherits every descriptor, the JVM's stdin pipe too
        time.sleep(300)
        os._exit(0)
    print(jvm, flush=True)
    time.sleep(300)
""")


def test_kill_9_of_the_driver_takes_its_jvm_along(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, start_new_session=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        jvm = int(driver.stdout.readline())
        assert pid_alive(jvm)
        driver.kill()
        driver.wait(10)
        wait_until(lambda: not pid_alive(jvm), 30, f"the driver's JVM (pid {jvm}) to exit")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the forked child, and the JVM if the test failed
