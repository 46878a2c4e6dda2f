"""``python -m compare.robustness``: bad input and faults tried against the library and its commands, by area
(the code is in ``__main__.py``: it calls the other commands' command lines in process, which only a
command line may do)."""
