"""Forms for the dashboard's edits: lengths match the columns, so an over-long or NUL value is a form
error, not a database error."""

from django import forms

from attribution.models import Alias, ChannelRule

SOURCE_VALUE_LENGTH = ChannelRule._meta.get_field("source_values").base_field.max_length
FILTER_VALUE_LENGTH = 255  # attribution columns are varchar(255): a longer filter value can match nothing


class AliasForm(forms.Form):
    value = forms.CharField(max_length=Alias._meta.get_field("value").max_length)
    canonical = forms.CharField(max_length=Alias._meta.get_field("canonical").max_length)


class RuleForm(forms.Form):
    channel = forms.CharField(max_length=ChannelRule._meta.get_field("channel").max_length)
    source = forms.CharField(max_length=SOURCE_VALUE_LENGTH)
    medium = forms.CharField(max_length=SOURCE_VALUE_LENGTH, required=False)


class AssignForm(forms.Form):
    source = forms.CharField(max_length=FILTER_VALUE_LENGTH, error_messages={"required": "a source is required"})
    medium = forms.CharField(max_length=FILTER_VALUE_LENGTH, required=False)
    campaign = forms.CharField(max_length=FILTER_VALUE_LENGTH, required=False)


def form_errors(form: forms.Form) -> str:
    """One line for a flash message: `channel: Ensure this value has at most 64 characters (it has 300).`"""
    return " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
