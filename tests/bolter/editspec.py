#!/usr/bin/env python3
"""Edits a config.json in place for bolter's tests:

    editspec.py FILE 'PYTHON EXPRESSION-STATEMENTS'

The statements see the document as `s`, e.g.
    editspec.py b/config.json 's["process"]["args"] = ["true"]'
"""
import json
import sys

path, code = sys.argv[1], sys.argv[2]
s = json.load(open(path))
exec(code, {"s": s})
json.dump(s, open(path, "w"), indent=1)
