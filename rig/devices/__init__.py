"""Devices behind small interfaces: frame sources and laser boards, each with a real and a mock."""
