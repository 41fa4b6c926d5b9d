"""Forms for the dashboard's edits and filters: lengths match the columns, so an over-long or NUL value is a form
error, not a database error; a value the link builder would refuse (brand, banned, alias, bad token) or a channel
that doesn't exist is a form error shown next to its field."""

from django import forms

from attribution.links import utm_value_findings
from attribution.models import Alias, ChannelRule
from attribution.periods import month_parse
from attribution.rules import (DIRECT, UNASSIGNED, Ruleset, attribution_compute, channel_lookup, medium_for_channel,
                               ruleset_channels, utm_normalize, utm_raw)

SOURCE_VALUE_LENGTH = ChannelRule._meta.get_field("source_values").base_field.max_length
FILTER_VALUE_LENGTH = 255  # attribution columns are varchar(255): a longer filter value can match nothing
CHANNEL_LENGTH = ChannelRule._meta.get_field("channel").max_length


def _checked(key: str, value: str, ruleset: Ruleset) -> str:
    """A UTM value normalized like a link's, or ValidationError with every reason the link builder gives."""
    value = utm_normalize(value)
    findings = utm_value_findings(key, value, ruleset=ruleset) if value else []
    if findings:
        raise forms.ValidationError([f.message for f in findings])
    return value


def _channel(value: str, known: list[str], *, new_ok: bool) -> str:
    """The known channel a typed name means; an unknown one only when confirmed as new; a typo is told its match."""
    channel, close = channel_lookup(value, known)
    if channel:
        return channel
    if close:
        hint = " or ".join(f"“{c}”" for c in close)
        if not new_ok:
            raise forms.ValidationError(f"“{value}” is not a channel. Did you mean {hint}?", code="unknown_channel")
    elif not new_ok:
        raise forms.ValidationError(f"“{value}” is not one of the channels. Pick one from the list, or tick "
                                    "“New channel” to create it.", code="unknown_channel")
    return " ".join(value.split())


class AliasForm(forms.Form):
    field = forms.ChoiceField(choices=Alias.Field.choices, required=False)
    value = forms.CharField(max_length=Alias._meta.get_field("value").max_length)
    canonical = forms.CharField(max_length=Alias._meta.get_field("canonical").max_length)

    def __init__(self, *args, ruleset: Ruleset | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ruleset = ruleset

    def clean_field(self):
        return self.cleaned_data.get("field") or Alias.Field.SOURCE

    def clean(self):
        data = super().clean()
        if self.ruleset is not None and data.get("canonical"):
            try:
                data["canonical"] = _checked(f"utm_{data.get('field') or 'source'}", data["canonical"], self.ruleset)
            except forms.ValidationError as exc:
                self.add_error("canonical", exc)
        if data.get("value") and data.get("canonical") and utm_normalize(data["value"]) == data["canonical"]:
            self.add_error("canonical", "An alias of itself changes nothing.")
        return data


class RuleForm(forms.Form):
    """A one-click channel rule (hygiene page): the channel is one of the rules' channels, or a new one only when
    "New channel" is ticked, so a typo ("referal") can't silently start a channel next to "Referral"."""

    channel = forms.CharField(max_length=CHANNEL_LENGTH)
    new_channel = forms.BooleanField(required=False)
    source = forms.CharField(max_length=SOURCE_VALUE_LENGTH)
    medium = forms.CharField(max_length=SOURCE_VALUE_LENGTH, required=False)

    def __init__(self, *args, channels: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.channels = list(channels)

    def clean_channel(self):
        channel = _channel(self.cleaned_data["channel"], self.channels, new_ok=self.data.get("new_channel") in ("1", "on", "true"))
        if channel in (DIRECT, UNASSIGNED):
            raise forms.ValidationError(f"{channel} is reserved: {DIRECT} is untagged bookings, {UNASSIGNED} is what no "
                                        "rule matches. Pick a channel a rule names.")
        return channel


class AssignForm(forms.Form):
    """What marketing assigns to untagged bookings: a source (from the list, checked like the link builder), an
    optional medium and campaign, and the channel they should land in ("" = what the rules say). A chosen channel
    the rules can't give that source is refused; without a medium, one that gives it is picked."""

    source = forms.CharField(max_length=FILTER_VALUE_LENGTH, error_messages={"required": "a source is required"})
    medium = forms.CharField(max_length=FILTER_VALUE_LENGTH, required=False)
    campaign = forms.CharField(max_length=FILTER_VALUE_LENGTH, required=False)
    channel = forms.CharField(max_length=CHANNEL_LENGTH, required=False)

    def __init__(self, *args, ruleset: Ruleset, mediums=lambda source: [], **kwargs):
        super().__init__(*args, **kwargs)
        self.ruleset = ruleset
        self.mediums = mediums  # source -> the mediums tagged bookings used with it, most used first

    def channels(self) -> list[str]:
        return [c for c in ruleset_channels(self.ruleset) if c != DIRECT]

    def clean_source(self):
        return _checked("utm_source", self.cleaned_data["source"], self.ruleset)

    def clean_medium(self):
        return _checked("utm_medium", self.cleaned_data["medium"], self.ruleset)

    def clean_campaign(self):
        return _checked("utm_campaign", self.cleaned_data["campaign"], self.ruleset)

    def clean_channel(self):
        value = self.cleaned_data["channel"].strip()
        return _channel(value, self.channels(), new_ok=False) if value else ""

    def clean(self):
        data = super().clean()
        source, medium, campaign, chosen = (data.get(k) for k in ("source", "medium", "campaign", "channel"))
        if not source or self.errors:
            return data
        if chosen and not medium:
            medium = medium_for_channel(source=source, channel=chosen, campaign=campaign or "", ruleset=self.ruleset,
                                        candidates=self.mediums(source))
            if medium is None:
                self.add_error("channel", f"No medium puts source “{source}” in {chosen}: add a channel rule for it on "
                                          "the hygiene page, or leave the channel to the rules.")
                return data
            data["medium"] = medium
        data["result_channel"] = attribution_compute(raw=utm_raw(self.manual_utm(data)), ruleset=self.ruleset).channel
        if chosen and data["result_channel"] != chosen:
            self.add_error("channel", f"“{source}” with medium “{medium}” lands in {data['result_channel']}, not "
                                      f"{chosen}: clear the medium to let Sourcebook pick one, or pick {data['result_channel']}.")
        return data

    @staticmethod
    def manual_utm(data: dict) -> dict:
        return {f"utm_{k}": data[k] for k in ("source", "medium", "campaign") if data.get(k)}


class BacklogFilterForm(forms.Form):
    """The backlog's filters besides the period: a month that can't be read is an error next to the field."""

    event_type = forms.CharField(max_length=FILTER_VALUE_LENGTH, required=False)
    month = forms.CharField(max_length=20, required=False)
    said = forms.CharField(max_length=FILTER_VALUE_LENGTH, required=False)

    def clean_month(self):
        month = self.cleaned_data["month"].strip()
        if month:
            try:
                month_parse(month)
            except ValueError as exc:
                raise forms.ValidationError(f"{exc}: showing every month of the period.") from None
        return month

    def value(self, name: str) -> str:
        """The cleaned value, or "" when the field has an error (the list ignores that filter)."""
        return self.cleaned_data.get(name, "") if hasattr(self, "cleaned_data") else ""


def form_errors(form: forms.Form) -> str:
    """One line for a flash message: `channel: Ensure this value has at most 64 characters (it has 300).`"""
    return " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
