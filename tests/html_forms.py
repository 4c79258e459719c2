"""What the forms of a page would post, read from its HTML as a browser reads it, and the
choices their lists offer: tests post them back, changed, as a user (or an attacker) would."""

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class PageForm:
    """A form of a page: its attributes, the fields it would submit (name, value) in order, and
    the values each of its lists of choices offers."""

    attrs: dict
    fields: list[tuple[str, str]] = field(default_factory=list)
    choices: dict[str, set[str]] = field(default_factory=dict)

    def data(self) -> dict:
        """What it would post: a value per field name, a list for names given more than once."""
        data: dict = {}
        for name, value in self.fields:
            data.setdefault(name, []).append(value)
        return {name: values[0] if len(values) == 1 else values for name, values in data.items()}


class _Forms(HTMLParser):
    """The forms of a page and the fields each would submit, as a browser would (checked boxes
    only, the selected option, a textarea's text; buttons left out)."""

    def __init__(self):
        super().__init__()
        self.forms: list[PageForm] = []
        self._form = None
        self._select = None  # (name, multiple, [(value, selected)])
        self._textarea = None  # (name, [text])

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = PageForm(attrs)
            self.forms.append(self._form)
        elif self._form is None or "disabled" in attrs:
            return
        elif tag == "option" and self._select is not None:
            self._select[2].append((attrs.get("value") or "", "selected" in attrs))
        elif not attrs.get("name"):
            return
        elif tag == "input":
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self._form.fields.append((attrs["name"], attrs.get("value") or ""))
        elif tag == "select":
            self._select = (attrs["name"], "multiple" in attrs, [])
        elif tag == "textarea":
            self._textarea = (attrs["name"], [])

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None:
            name, multiple, options = self._select
            chosen = [value for value, selected in options if selected]
            if not chosen and not multiple and options:
                chosen = [options[0][0]]
            self._form.fields.extend((name, value) for value in chosen)
            self._form.choices[name] = {value for value, _selected in options if value}
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, parts = self._textarea
            self._form.fields.append((name, "".join(parts).removeprefix("\n")))
            self._textarea = None


#: The forms of the admin's header, on every page: never the page's own form.
HEADER_FORMS = ("logout-form", "language-form")


def page_forms(response) -> list[PageForm]:
    """The forms of the page, in order; the header's (logout, language) never."""
    parser = _Forms()
    parser.feed(response.content.decode())
    return [form for form in parser.forms if form.attrs.get("id") not in HEADER_FORMS]


def page_form(response, **attrs) -> PageForm:
    """The page's first form whose attributes include ``attrs`` (the logout form never)."""
    for form in page_forms(response):
        if all(form.attrs.get(key) == value for key, value in attrs.items()):
            return form
    raise AssertionError(f"no form with {attrs} on the page")


def form_data(response, **attrs) -> dict:
    """What the page's form (the first one whose attributes include ``attrs``; the logout form
    never) would post: a value per field name, a list for names given more than once."""
    return page_form(response, **attrs).data()
