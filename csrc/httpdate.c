/* HTTP dates (RFC 9110 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT") for
 * httputil.format_timestamp, which every response's Date header and every
 * static file's Last-Modified goes through.
 *
 * Both functions return None for input they do not handle exactly as the
 * Python code would (out-of-range years, non-finite floats, odd tuples),
 * and the caller then takes the Python path (calendar.timegm,
 * email.utils.formatdate) with its own results and errors. */

#include "tc.h"

#include <datetime.h>
#include <math.h>
#include <time.h>

/* 0001-01-01T00:00:00 and 9999-12-31T23:59:59 UTC as POSIX seconds: the
 * range of datetime, which email.utils.formatdate goes through. */
#define TC_MIN_SECONDS (-62135596800LL)
#define TC_MAX_SECONDS 253402300799LL

static const char weekday_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (any
 * day number: it is added linearly, as calendar.timegm does). */
static long long
days_from_civil(long long y, long long m, long long d)
{
    long long era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 + (d - 1);
}

/* Whole POSIX seconds of an int or float timestamp as datetime.fromtimestamp
 * sees them (microseconds rounded half to even first).  0 on success, 1 when
 * the value is not one this code handles, -1 with an exception. */
static int
timestamp_seconds(PyObject *value, long long *out)
{
    if (PyLong_Check(value)) {
        int overflow = 0;
        long long s = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (s == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (overflow) {
            return 1;
        }
        *out = s;
        return 0;
    }
    if (PyFloat_Check(value)) {
        double t = PyFloat_AS_DOUBLE(value), whole, frac, us;
        if (!isfinite(t) || t < (double)TC_MIN_SECONDS - 1 || t > (double)TC_MAX_SECONDS + 1) {
            return 1;
        }
        frac = modf(t, &whole);
        us = frac * 1e6;
        /* round half to even, as datetime does */
        {
            double r = round(us);
            if (fabs(us - trunc(us)) == 0.5) {
                r = 2.0 * round(us / 2.0);
            }
            us = r;
        }
        if (us >= 1e6) {
            whole += 1.0;
        }
        else if (us < 0) {
            whole -= 1.0;
        }
        *out = (long long)whole;
        return 0;
    }
    return 1;
}

int
tc_datetime_api(void)
{
    if (PyDateTimeAPI == NULL) {
        PyDateTime_IMPORT;
        if (PyDateTimeAPI == NULL) {
            return -1;
        }
    }
    return 0;
}

int
tc_is_utc_datetime_class(PyObject *cls, PyObject *tz)
{
    if (tc_datetime_api() < 0) {
        PyErr_Clear();
        return 0;
    }
    return cls == (PyObject *)PyDateTimeAPI->DateTimeType && tz == PyDateTime_TimeZone_UTC;
}

/* Two decimal digits of 0 <= v < 100 at p. */
static char *
put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Whole POSIX seconds of an exact datetime.datetime that is naive (taken
 * as UTC, as utctimetuple() does) or carries the timezone.utc singleton:
 * what calendar.timegm(value.utctimetuple()) gives.  0 on success, 1 for
 * any other datetime (a subclass, another tzinfo), which the caller leaves
 * to Python. */
static int
datetime_seconds(PyObject *value, long long *out)
{
    PyObject *tz;

    if (tc_datetime_api() < 0) {
        PyErr_Clear();
        return 1;
    }
    if (!PyDateTime_CheckExact(value)) {
        return 1;
    }
    tz = PyDateTime_DATE_GET_TZINFO(value);
    if (tz != Py_None && tz != PyDateTime_TimeZone_UTC) {
        return 1;
    }
    *out = (days_from_civil(PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                            PyDateTime_GET_DAY(value)) *
                24 +
            PyDateTime_DATE_GET_HOUR(value)) *
               3600 +
           PyDateTime_DATE_GET_MINUTE(value) * 60 + PyDateTime_DATE_GET_SECOND(value);
    return 0;
}

int
tc_civil_from_seconds(long long s, tc_civil *c)
{
    long long days, secs_of_day, z, era, doe, yoe, y, doy, mp, d, m;

    if (s < TC_MIN_SECONDS || s > TC_MAX_SECONDS) {
        return 1;
    }
    /* Civil date from days (no gmtime: its range is platform-dependent). */
    days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    secs_of_day = s - days * 86400;
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    c->year = (int)y;
    c->month = (int)m;
    c->day = (int)d;
    c->hour = (int)(secs_of_day / 3600);
    c->minute = (int)(secs_of_day / 60 % 60);
    c->second = (int)(secs_of_day % 60);
    c->wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    return 0;
}

PyObject *
tc_http_date_text(const tc_civil *c)
{
    char text[32], *p = text;

    /* "Sun, 06 Nov 1994 08:49:37 GMT" (the year has four digits: 1..9999) */
    memcpy(p, weekday_names[c->wday], 3);
    p[3] = ',';
    p[4] = ' ';
    p = put2(p + 5, c->day);
    *p++ = ' ';
    memcpy(p, month_names[c->month - 1], 3);
    p[3] = ' ';
    p = put2(p + 4, c->year / 100);
    p = put2(p, c->year % 100);
    *p++ = ' ';
    p = put2(p, c->hour);
    *p++ = ':';
    p = put2(p, c->minute);
    *p++ = ':';
    p = put2(p, c->second);
    memcpy(p, " GMT", 4);
    p += 4;
    return PyUnicode_FromStringAndSize(text, p - text);
}

PyObject *
tc_utc_datetime(const tc_civil *c)
{
    if (tc_datetime_api() < 0) {
        return NULL;
    }
    return PyDateTimeAPI->DateTime_FromDateAndTime(c->year, c->month, c->day, c->hour, c->minute,
                                                   c->second, 0, PyDateTime_TimeZone_UTC,
                                                   PyDateTimeAPI->DateTimeType);
}

PyObject *
tc_http_date(PyObject *Py_UNUSED(module), PyObject *value)
{
    long long s;
    tc_civil c;
    int rc;

    if (PyLong_Check(value) || PyFloat_Check(value)) {
        rc = timestamp_seconds(value, &s);
    }
    else {
        rc = datetime_seconds(value, &s);
    }
    if (rc < 0) {
        return NULL;
    }
    if (rc > 0 || tc_civil_from_seconds(s, &c) != 0) {
        Py_RETURN_NONE;
    }
    return tc_http_date_text(&c);
}

/* calendar.timegm for a tuple or struct_time whose first six fields are
 * ints with a valid year and month; None for anything else. */
PyObject *
tc_timegm(PyObject *Py_UNUSED(module), PyObject *value)
{
    long long f[6];
    int i;

    if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) < 6) {
        Py_RETURN_NONE;
    }
    for (i = 0; i < 6; i++) {
        PyObject *item = PyTuple_GET_ITEM(value, i);
        int overflow = 0;
        if (!PyLong_CheckExact(item)) {
            Py_RETURN_NONE;
        }
        f[i] = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (overflow || (f[i] == -1 && PyErr_Occurred()) || f[i] > (1LL << 40) ||
            f[i] < -(1LL << 40)) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
    }
    if (f[0] < 1 || f[0] > 9999 || f[1] < 1 || f[1] > 12) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(((days_from_civil(f[0], f[1], 1) + f[2] - 1) * 24 + f[3]) * 3600 +
                               f[4] * 60 + f[5]);
}
