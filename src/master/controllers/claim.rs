//! Ownership through `ownerReferences`, as Kubernetes' `ControllerRefManager` does it: a
//! controller owns the objects whose controller reference names its uid and that its selector
//! still matches; it adopts matching orphans and releases owned objects that stopped matching.
use crate::api::selector::Selector;
use crate::api::{ApiObject, OwnerReference};

/// What a controller does with an object it looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Already ours and still matching.
    Owned,
    /// An orphan that matches: take it (add our controller reference).
    Adopt,
    /// Ours but no longer matching: let it go (remove our reference).
    Release,
    /// Someone else's, or nothing to do with us.
    Ignore,
}

/// Decides what `owner` (with selector `selector`) does with `object`.
pub fn claim<O: ApiObject, T: ApiObject>(owner: &O, selector: &Selector, object: &T) -> Claim {
    let owner_meta = owner.meta();
    let owner_deleting = owner_meta.deletion_timestamp.is_some();
    let meta = object.meta();
    let matches = selector.matches(&meta.labels);
    match meta.controller_ref() {
        Some(controller) if controller.uid == owner_meta.uid => {
            if matches {
                Claim::Owned
            } else if owner_deleting {
                Claim::Ignore
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None => {
            if owner_deleting || !matches || meta.deletion_timestamp.is_some() {
                Claim::Ignore
            } else {
                Claim::Adopt
            }
        }
    }
}

/// `object` with a controller reference to `owner` added.
pub fn adopted<O: ApiObject, T: ApiObject>(owner: &O, object: &T) -> T {
    let mut object = object.clone();
    object
        .meta_mut()
        .owner_references
        .push(OwnerReference::controller_of(O::KIND, owner.meta()));
    object
}

/// `object` without its references to `owner`.
pub fn released<O: ApiObject, T: ApiObject>(owner: &O, object: &T) -> T {
    let mut object = object.clone();
    let uid = owner.meta().uid.clone();
    object
        .meta_mut()
        .owner_references
        .retain(|reference| reference.uid != uid);
    object
}
