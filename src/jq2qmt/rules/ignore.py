"""The ignore list of an account's settings: which held codes the follower never
touches (the follower's safety checks and the server's account summary read it the
same way).
"""

import fnmatch


def matches_ignore(code, patterns):
    """Ignore list entries: a full code ('511880.SH'), a bare number ('511880'), or a
    pattern with '*' / '?' ('1318*', '204*.SH'), as the engine reads them."""
    forms = (code.upper(), code.split(".")[0])
    for pattern in patterns:
        pattern = str(pattern).strip().upper()
        if pattern and any(fnmatch.fnmatchcase(form, pattern) for form in forms):
            return True
    return False
