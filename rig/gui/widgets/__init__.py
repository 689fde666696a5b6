"""Widgets of the main window: video view with overlays, laser indicator, live plots,
set-up panel, calibration editor, summary dialog, fault banner, simulation controls."""
