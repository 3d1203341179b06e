"""Colours for meaning (problem, success, needs attention), derived from the current palette.

The app follows the system's light or dark palette; nothing hard-codes a colour. A meaning
keeps its hue (red, green, amber) and takes its lightness from the palette, so the text stays
readable (WCAG contrast at least 4.5:1) on light and dark backgrounds alike.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

_RED, _GREEN, _AMBER = 355 / 360, 140 / 360, 40 / 360
READABLE = 4.5  # WCAG AA contrast for normal text


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightnessF() < 0.5


def _text(palette: QPalette, hue: float) -> QColor:
    """The hue at the lightness nearest the middle that reads on Window and Base alike."""
    backgrounds = [
        palette.color(role) for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base)
    ]
    dark = is_dark(palette)
    lightness = 0.6 if dark else 0.45
    while 0.0 < lightness < 1.0:
        color = QColor.fromHslF(hue, 0.75, lightness)
        if all(contrast_ratio(color, background) >= READABLE for background in backgrounds):
            return color
        lightness += 0.02 if dark else -0.02
    return palette.color(QPalette.ColorRole.WindowText)


def error_color(palette: QPalette) -> QColor:
    """Text that reports a problem (inline validation, a failed send)."""
    return _text(palette, _RED)


def success_color(palette: QPalette) -> QColor:
    """Text that reports success (a connection test that worked)."""
    return _text(palette, _GREEN)


def attention_background(palette: QPalette) -> QColor:
    """A row background for things the user must look at (unconfirmed deliveries).

    A faint amber close to the palette's Base, so the palette's Text stays readable on it.
    """
    text = palette.color(QPalette.ColorRole.Text)
    dark = is_dark(palette)
    lightness = 0.3 if dark else 0.82
    while 0.0 < lightness < 1.0:
        color = QColor.fromHslF(_AMBER, 0.8, lightness)
        if contrast_ratio(text, color) >= READABLE:
            return color
        lightness += -0.02 if dark else 0.02
    return palette.color(QPalette.ColorRole.AlternateBase)


def set_text_color(widget: QWidget, color: QColor) -> None:
    """Colour a label's text through its palette (a style sheet would drop the native style)."""
    palette = widget.palette()
    palette.setColor(QPalette.ColorRole.WindowText, color)
    palette.setColor(QPalette.ColorRole.Text, color)
    widget.setPalette(palette)


def mark_as_error(widget: QWidget) -> None:
    set_text_color(widget, error_color(widget.palette()))


def mark_as_success(widget: QWidget) -> None:
    set_text_color(widget, success_color(widget.palette()))


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio between two colours (1 to 21)."""

    def luminance(color: QColor) -> float:
        def channel(value: float) -> float:
            return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

        return (
            0.2126 * channel(color.redF())
            + 0.7152 * channel(color.greenF())
            + 0.0722 * channel(color.blueF())
        )

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
