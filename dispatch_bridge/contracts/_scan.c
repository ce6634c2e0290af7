/* The decoder's safety scans (dispatch_bridge.contracts.structs._fast_path_safe) as one compiled function.
 *
 * Before msgspec may decode a record, the bytes are checked for what msgspec and pydantic would read differently:
 * 128 or more `{`/`[` (deep nesting), a decimal point followed by seven digits (a time finer than a microsecond),
 * a run of more than 4,300 digits, and bytes beyond ASCII (then Python checks the UTF-8). In pure Python these are
 * four byte loops of CPython's, about 2.4 us for a 2.4 KB incident: the largest single item of a backlog event's
 * cost. Here the counting loop is branch-free (the compiler vectorises it), points are found with memchr, and the
 * digit-run loop runs only for records long enough to hold one: 0.2-0.8 us. The pure-Python scan stays as the
 * fallback where no C compiler was at hand, and a test holds the two to the same answer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_OPENERS 128
#define MAX_DIGITS 4300
#define SUB_MICROSECOND_DIGITS 7

enum { UNSAFE = 0, SAFE_ASCII = 1, SAFE_IF_UTF8 = 2 };

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int classify(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t openers = 0;
    unsigned char high = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        openers += (c == '{') | (c == '[');
        high |= c;
    }
    if (openers >= MAX_OPENERS) {
        return UNSAFE;
    }
    const unsigned char *p = s, *end = s + n;
    while ((p = memchr(p, '.', (size_t)(end - p))) != NULL) {
        p++;
        if (end - p < SUB_MICROSECOND_DIGITS) {
            break;
        }
        int digits = 0;
        while (digits < SUB_MICROSECOND_DIGITS && is_digit(p[digits])) {
            digits++;
        }
        if (digits == SUB_MICROSECOND_DIGITS) {
            return UNSAFE;
        }
    }
    if (n > MAX_DIGITS) {
        Py_ssize_t run = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            run = is_digit(s[i]) ? run + 1 : 0;
            if (run > MAX_DIGITS) {
                return UNSAFE;
            }
        }
    }
    return (high & 0x80) ? SAFE_IF_UTF8 : SAFE_ASCII;
}

static PyObject *scan(PyObject *self, PyObject *value) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    int verdict = classify((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromLong(verdict);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_O,
     "scan(value) -> 0 when msgspec's reading of the bytes may differ from pydantic's, 1 when it cannot (the bytes "
     "are ASCII), 2 when it cannot if the bytes are valid UTF-8."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "The decoder's safety scans, compiled.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
