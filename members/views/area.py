"""Placeholder: being written."""


def member_area(request, **kwargs):
    raise NotImplementedError


def organisation_edit(request, **kwargs):
    raise NotImplementedError


def contact_add(request, **kwargs):
    raise NotImplementedError


def contact_remove(request, **kwargs):
    raise NotImplementedError
