//! Predicates for `skip_serializing_if`: Kubernetes omits empty and zero fields (`omitempty`),
//! and `-o json` output should look the same.

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
