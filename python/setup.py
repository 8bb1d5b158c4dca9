"""`pip install .` from python/: runs the repository root's setup.py (see there)."""
import os
import runpy

runpy.run_path(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.py"),
               run_name="__main__")
