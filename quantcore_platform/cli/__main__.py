from quantcore_platform.cli.main import run

run()
