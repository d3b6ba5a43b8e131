"""Translation and locale-aware formatting.

Load translations once at start-up with `load_translations` (CSV files) or
`load_gettext_translations` (compiled ``.mo`` files), then pick a locale per
user with `get`::

    user_locale = tornado_c.locale.get("es_LA")
    print(user_locale.translate("Sign out"))

A translation may have a plural form, chosen by ``count``::

    user_locale.translate("%(name)s liked this", "%(name)s liked these", len(people))

Besides translation, a `Locale` formats dates (`Locale.format_date`,
`Locale.format_day`), lists (`Locale.list`) and numbers
(`Locale.friendly_number`).
"""

from __future__ import annotations

import re
import os
import csv
import datetime
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union
import gettext
import glob

from tornado_c import escape
from tornado_c._locale_data import LOCALE_NAMES
from tornado_c.log import gen_log


_default_locale = "en_US"
_translations: Dict[str, Any] = {}
_supported_locales = frozenset([_default_locale])
_use_gettext = False
CONTEXT_SEPARATOR = "\x04"

_LOCALE_FILE_RE = re.compile("[a-z]+(_[A-Z]+)?$")
_PLURAL_KINDS = ("plural", "singular", "unknown")
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def get(*locale_codes: str) -> "Locale":
    """Return the closest supported locale to the given codes.

    Codes are tried in order, each as given and then by its language part
    alone (``en`` for ``en_US``); the default locale is the fall-back.
    Lookups are case- and dash/underscore-insensitive (``en-us`` works).
    """
    return Locale.get_closest(*locale_codes)


def _refresh_supported() -> None:
    global _supported_locales
    _supported_locales = frozenset(list(_translations) + [_default_locale])


def set_default_locale(code: str) -> None:
    """Set the locale used when no requested locale is supported.

    The default locale is taken to be the language the source strings are
    written in, so it needs no translation file of its own.
    """
    global _default_locale
    _default_locale = code
    _refresh_supported()


def _sniff_encoding(path: str) -> str:
    with open(path, "rb") as probe:
        head = probe.read(2)
    return "utf-16" if head in _UTF16_MARKS else "utf-8-sig"


def _read_csv_table(path: str, filename: str, encoding: str) -> Dict[str, Dict[str, str]]:
    table: Dict[str, Dict[str, str]] = {}
    with open(path, encoding=encoding) as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if len(row) < 2:
                continue
            cells = [escape.to_unicode(cell).strip() for cell in row]
            kind = "unknown"
            if len(cells) > 2 and cells[2]:
                kind = cells[2]
            if kind not in _PLURAL_KINDS:
                gen_log.error(
                    "Unrecognized plural indicator %r in %s line %d", kind, filename, lineno
                )
                continue
            table.setdefault(kind, {})[cells[0]] = cells[1]
    return table


def load_translations(directory: str, encoding: Optional[str] = None) -> None:
    """Load translations from the CSV files in ``directory``.

    Each file is named after its locale (``es_GT.csv``) and holds rows of
    ``"original", "translation"`` with an optional third column,
    ``"plural"`` or ``"singular"``, for strings with plural forms.  Files
    are read as UTF-8 (with an optional BOM) unless they start with a
    UTF-16 BOM or ``encoding`` is given.
    """
    global _translations
    _translations = {}
    for filename in os.listdir(directory):
        if not filename.endswith(".csv"):
            continue
        code, _ext = filename.split(".")
        path = os.path.join(directory, filename)
        if _LOCALE_FILE_RE.match(code) is None:
            gen_log.error("Unrecognized locale %r (path: %s)", code, path)
            continue
        # Without an explicit encoding, the first file's BOM decides for all.
        if encoding is None:
            encoding = _sniff_encoding(path)
        _translations[code] = _read_csv_table(path, filename, encoding)
    _refresh_supported()
    gen_log.debug("Supported locales: %s", sorted(_supported_locales))


def _mo_languages(directory: str, domain: str) -> Iterator[str]:
    # Each match is <directory>/<lang>/LC_MESSAGES/<domain>.mo.
    for found in glob.glob(os.path.join(directory, "*", "LC_MESSAGES", "%s.mo" % domain)):
        yield os.path.basename(os.path.dirname(os.path.dirname(found)))


def load_gettext_translations(directory: str, domain: str) -> None:
    """Load gettext translations from ``directory``.

    Expects ``{directory}/{lang}/LC_MESSAGES/{domain}.mo`` files, as made by
    ``xgettext`` and ``msgfmt``.
    """
    global _translations, _use_gettext
    _translations = {}
    for lang in _mo_languages(directory, domain):
        try:
            catalogue = gettext.translation(domain, directory, languages=[lang])
        except Exception as e:
            gen_log.error("Cannot load translation for '%s': %s", lang, str(e))
        else:
            _translations[lang] = catalogue
    _refresh_supported()
    _use_gettext = True
    gen_log.debug("Supported locales: %s", sorted(_supported_locales))


def get_supported_locales() -> Iterable[str]:
    """Return the codes of all supported locales."""
    return _supported_locales


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_RTL_PREFIXES = ("fa", "ar", "he")


# get_closest's answers (the chosen code per tuple of requested codes), valid
# for the _supported_locales set they were worked out against; browsers
# send a handful of distinct Accept-Language values, so it stays small.
_closest: Dict[Tuple[str, ...], str] = {}
_closest_for: Optional[frozenset] = None
_CLOSEST_LIMIT = 1024


def _lookup_candidates(code: str) -> List[str]:
    """The spellings of ``code`` to try, most specific first."""
    pieces = code.replace("-", "_").split("_")
    if len(pieces) == 1:
        return [pieces[0], pieces[0].lower()]
    if len(pieces) == 2:
        lang = pieces[0].lower()
        return ["%s_%s" % (lang, pieces[1].upper()), lang]
    return []


class Locale:
    """A locale: a language's translations and formatting rules.

    Get instances with `get_closest` or `get` rather than the constructor.
    """

    _cache: Dict[str, "Locale"] = {}

    @classmethod
    def get_closest(cls, *locale_codes: str) -> "Locale":
        """Return the closest supported locale to the given codes."""
        global _closest_for
        if _closest_for is not _supported_locales:
            # Translations or the default changed: earlier answers are stale.
            _closest.clear()
            _closest_for = _supported_locales
        try:
            chosen = _closest.get(locale_codes)
        except TypeError:  # an unhashable code: no caching
            chosen = None
        if chosen is None:
            candidates = (c for code in locale_codes if code for c in _lookup_candidates(code))
            chosen = next((c for c in candidates if c in _supported_locales), _default_locale)
            if len(_closest) < _CLOSEST_LIMIT:
                try:
                    _closest[locale_codes] = chosen
                except TypeError:
                    pass
        return cls.get(chosen)

    @classmethod
    def get(cls, code: str) -> "Locale":
        """Return the locale for ``code``, which must be supported."""
        if code in cls._cache:
            return cls._cache[code]
        assert code in _supported_locales
        catalogue = _translations.get(code)
        if catalogue is not None and _use_gettext:
            made: Locale = GettextLocale(code, catalogue)
        else:
            made = CSVLocale(code, catalogue or {})
        cls._cache[code] = made
        return made

    def __init__(self, code: str) -> None:
        self.code = code
        self.name = LOCALE_NAMES.get(code, {}).get("name", "Unknown")
        self.rtl = code[:2] in _RTL_PREFIXES
        # Calendar names are translated once, up front.
        self._months = list(map(self.translate, _MONTHS))
        self._weekdays = list(map(self.translate, _WEEKDAYS))

    def translate(
        self,
        message: str,
        plural_message: Optional[str] = None,
        count: Optional[int] = None,
    ) -> str:
        """Return ``message`` translated into this locale.

        With ``plural_message`` and ``count``, the plural form is used when
        ``count != 1``.
        """
        raise NotImplementedError()

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: Optional[str] = None,
        count: Optional[int] = None,
    ) -> str:
        """Like `translate`, with a context string that disambiguates."""
        raise NotImplementedError()

    def _ago(self, seconds: int) -> str:
        # Relative phrase for something less than a day old.
        if seconds < 50:
            n, unit = seconds, "second"
        elif seconds < 3000:
            n, unit = round(seconds / 60.0), "minute"
        else:
            n, unit = round(seconds / 3600.0), "hour"
        phrase = self.translate(
            "1 %s ago" % unit, "%%(%ss)d %ss ago" % (unit, unit), n
        )
        return phrase % {unit + "s": n}

    def _clock(self, hour: int, minute: int) -> str:
        twelve = hour % 12 or 12
        if self.code == "zh_CN":
            return "%s%d:%02d" % ("\u4e0b\u5348" if hour >= 12 else "\u4e0a\u5348", twelve, minute)
        if self.code in ("en", "en_US"):
            return "%d:%02d %s" % (twelve, minute, "pm" if hour >= 12 else "am")
        return "%d:%02d" % (hour, minute)

    def _date_fields(self, moment: datetime.datetime) -> Dict[str, str]:
        return dict(
            month_name=self._months[moment.month - 1],
            weekday=self._weekdays[moment.weekday()],
            day=str(moment.day),
        )

    def format_date(
        self,
        date: Union[int, float, datetime.datetime],
        gmt_offset: int = 0,
        relative: bool = True,
        shorter: bool = False,
        full_format: bool = False,
    ) -> str:
        """Format a date (a timestamp or a datetime, naive ones being UTC).

        Relative mode gives "2 minutes ago" / "yesterday at 4:05 pm" for
        recent dates; ``full_format`` always gives the full date and time,
        ``shorter`` drops the time.  ``gmt_offset`` is the user's offset in
        minutes, positive west of UTC.
        """
        utc = datetime.timezone.utc
        if isinstance(date, (int, float)):
            date = datetime.datetime.fromtimestamp(date, utc)
        if date.tzinfo is None:
            date = date.replace(tzinfo=utc)
        now = datetime.datetime.now(utc)
        if date > now:
            # Under a minute ahead is most likely clock skew; treat it as now.
            skewed = relative and (date - now).seconds < 60
            if skewed:
                date = now
            else:
                full_format = True
        shift = datetime.timedelta(minutes=gmt_offset)
        local = date - shift
        age = now - date
        _ = self.translate

        # Each pattern is the pair (short form, long form).
        choice = None
        if not full_format:
            if age.days == 0:
                if relative:
                    return self._ago(age.seconds)
                choice = (_("%(time)s"), _("%(time)s"))
            elif age.days == 1 and relative and (
                local.day == (now - shift - datetime.timedelta(hours=24)).day
            ):
                choice = (_("yesterday"), _("yesterday at %(time)s"))
            elif age.days < 5:
                choice = (_("%(weekday)s"), _("%(weekday)s at %(time)s"))
            elif age.days < 334:  # beyond ~11 months the year is needed
                choice = (_("%(month_name)s %(day)s"), _("%(month_name)s %(day)s at %(time)s"))
        if choice is None:
            choice = (
                _("%(month_name)s %(day)s, %(year)s"),
                _("%(month_name)s %(day)s, %(year)s at %(time)s"),
            )
        pattern = choice[0] if shorter else choice[1]
        fields = self._date_fields(local)
        fields.update(year=str(local.year), time=self._clock(local.hour, local.minute))
        return pattern % fields

    def format_day(self, date: datetime.datetime, gmt_offset: int = 0, dow: bool = True) -> str:
        """Format a date as "Monday, January 22" (or "January 22" without
        ``dow``)."""
        fields = self._date_fields(date - datetime.timedelta(minutes=gmt_offset))
        pattern = "%(weekday)s, %(month_name)s %(day)s" if dow else "%(month_name)s %(day)s"
        return self.translate(pattern) % fields

    def list(self, parts: Any) -> str:
        """Join a list as "A, B and C" in this locale."""
        count = len(parts)
        if count < 2:
            return parts[0] if count else ""
        joiner = " \u0648 " if self.code.startswith("fa") else ", "
        head = joiner.join(parts[: count - 1])
        return self.translate("%(commas)s and %(last)s") % dict(commas=head, last=parts[count - 1])

    def friendly_number(self, value: int) -> str:
        """Format a number with thousands separators where the locale has
        them ("1,234,567" in English)."""
        if self.code not in ("en", "en_US"):
            return str(value)
        digits = str(value)
        groups: List[str] = []
        while digits:
            groups.append(digits[-3:])
            digits = digits[:-3]
        return ",".join(reversed(groups))


class CSVLocale(Locale):
    """A locale whose translations came from `load_translations`."""

    def __init__(self, code: str, translations: Dict[str, Dict[str, str]]) -> None:
        self.translations = translations
        super().__init__(code)

    def translate(
        self,
        message: str,
        plural_message: Optional[str] = None,
        count: Optional[int] = None,
    ) -> str:
        kind = "unknown"
        if plural_message is not None:
            assert count is not None
            kind = "singular" if count == 1 else "plural"
            if kind == "plural":
                message = plural_message
        return self.translations.get(kind, {}).get(message, message)

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: Optional[str] = None,
        count: Optional[int] = None,
    ) -> str:
        if self.translations:
            gen_log.warning("pgettext is not supported by CSVLocale")
        return self.translate(message, plural_message, count)


class GettextLocale(Locale):
    """A locale whose translations came from `load_gettext_translations`."""

    def __init__(self, code: str, translations: gettext.NullTranslations) -> None:
        # The base initialiser translates calendar names, so bind these first.
        self.gettext, self.ngettext = translations.gettext, translations.ngettext
        super().__init__(code)

    def translate(
        self,
        message: str,
        plural_message: Optional[str] = None,
        count: Optional[int] = None,
    ) -> str:
        if plural_message is None:
            return self.gettext(message)
        assert count is not None
        return self.ngettext(message, plural_message, count)

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: Optional[str] = None,
        count: Optional[int] = None,
    ) -> str:
        """Translate ``message`` within ``context`` (gettext's msgctxt).

        Falls back to the context-free translation when the catalogue has
        no entry for the context.
        """
        prefix = "%s%s" % (context, CONTEXT_SEPARATOR)
        if plural_message is None:
            found = self.gettext(prefix + message)
            return message if CONTEXT_SEPARATOR in found else found
        assert count is not None
        found = self.ngettext(prefix + message, prefix + plural_message, count)
        if CONTEXT_SEPARATOR in found:
            return self.ngettext(message, plural_message, count)
        return found
