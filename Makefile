# The two commands the README documents:
#   make run    install (first time) and start the app on the bundled demo study
#   make test   install everything the tests need and run the whole suite under Xvfb
.PHONY: run test bench

run:
	scripts/bootstrap.sh
	.venv/bin/python main.py --demo

test:
	scripts/bootstrap.sh --test
	xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" .venv/bin/python -m pytest $(PYTEST_ARGS)

bench:
	scripts/bootstrap.sh --test
	xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" .venv/bin/python -m bench.run_all
