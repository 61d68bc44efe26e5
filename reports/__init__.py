"""ckc reports: results JSON (schema 1), merge, HTML matrix, diff and config evidence.

Modules: schema (read/validate/write/merge results files), catalogue (BEHAVIOURS.md rows),
config_map (CONFIG options -> catalogue rows), html, charts, diff, cli.
"""
