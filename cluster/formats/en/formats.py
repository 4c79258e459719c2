"""English date formats that differ from Django's.

Dates written out name the month in full ("December 31, 2026" rather than "Dec. 31, 2026"), as
the French "31 décembre 2026" does, in e-mails and PDFs. Dates in numbers never put the month
first: tables and the admin write "5 Dec 2026", and date fields read and show day first
("05/12/2026", as in French; ISO "2026-12-05" is accepted too), so that staff switching
language read and type the same dates.
"""

DATE_FORMAT = "F j, Y"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y H:i"

DATE_INPUT_FORMATS = [
    "%d/%m/%Y",  # '25/10/2006'
    "%d/%m/%y",  # '25/10/06'
    "%Y-%m-%d",  # '2006-10-25'
    "%d %b %Y",  # '25 Oct 2006'
    "%d %B %Y",  # '25 October 2006'
]
DATETIME_INPUT_FORMATS = [
    "%d/%m/%Y %H:%M:%S",  # '25/10/2006 14:30:59'
    "%d/%m/%Y %H:%M:%S.%f",  # '25/10/2006 14:30:59.000200'
    "%d/%m/%Y %H:%M",  # '25/10/2006 14:30'
    "%Y-%m-%d %H:%M:%S",  # '2006-10-25 14:30:59'
    "%Y-%m-%d %H:%M",  # '2006-10-25 14:30'
]
