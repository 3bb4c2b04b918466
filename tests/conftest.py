"""Collection rules shared by the whole suite."""

# tests/readme runs the README's `make demo` and `make destroy` in a clean clone (minutes,
# Docker, the image kit): a bare `pytest` leaves it out. Naming it still runs it
# (`make test-readme`: pytest tests/readme): pytest applies this list only to what it finds
# under a folder, never to a path given on the command line (tests/test_project_collection.py).
collect_ignore = ["readme"]
