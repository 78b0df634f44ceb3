"""Helpers the panels share."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from ftgui.gui.widgets.fields import ConfigField, ConfigModel, label_for


def add_fields(form: QFormLayout, model: ConfigModel, keys: list[str], owner: QWidget,
               paths: dict[str, str] | None = None) -> dict[str, ConfigField]:
    """Add one labelled row per key; check boxes carry their own label."""
    out = {}
    for key in keys:
        f = ConfigField(key, model, owner, path_kind=(paths or {}).get(key))
        if f.editor.metaObject().className() == "QCheckBox":
            form.addRow("", f)
        else:
            label = QLabel(label_for(key) + ":")
            label.setToolTip(f.help)
            label.setBuddy(f.editor)
            form.addRow(label, f)
        out[key] = f
    return out


def new_form() -> QFormLayout:
    form = QFormLayout()
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(form.labelAlignment())
    return form


def remaining(section: str, placed) -> list[str]:
    """Keys of a config section not placed yet: fields added to the config later show
    up in the form without touching the GUI."""
    from ftgui.gui.widgets.fields import section_keys
    return [k for k in section_keys(section) if k not in placed]
