"""The host side of ckc's main job: dependencies, build, running the suite binaries, summary."""
