//! `POST` to a collection: create one object, in a namespace that exists.
use hyper::{Response, StatusCode};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

use super::{document, Call, ResponseBody};
use crate::api::Kind;
use crate::master::admission;
use crate::master::authz;
use crate::master::error::ApiError;
use crate::master::namespaces;
use crate::master::object::{key_of, meta_str, set_meta};
use crate::master::route::ResourcePath;
use crate::store::StoreError;

/// Tries at generating a free name from `metadata.generateName`.
const GENERATE_NAME_ATTEMPTS_MAX: usize = 8;

/// Kubernetes' alphabet for generated name suffixes (no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Puts the path's namespace into the body, or refuses a body that names another.
pub fn fill_namespace(object: &mut Value, path: &ResourcePath) -> Result<(), ApiError> {
    if !path.kind.namespaced() {
        return Ok(());
    }
    let expected = path.namespace.clone().unwrap_or_default();
    match meta_str(object, "namespace") {
        "" => set_meta(object, "namespace", Value::String(expected)),
        found if found == expected => {}
        found => {
            return Err(ApiError::Mismatch {
                field: "namespace",
                found: found.to_string(),
                expected,
            })
        }
    }
    Ok(())
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 5];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    bytes
        .iter()
        .map(|b| SUFFIX_ALPHABET[usize::from(*b) % SUFFIX_ALPHABET.len()] as char)
        .collect()
}

pub async fn create(
    call: &Call<'_>,
    mut object: Value,
) -> Result<Response<ResponseBody>, ApiError> {
    fill_namespace(&mut object, call.path)?;
    let generate = meta_str(&object, "generateName").to_string();
    let attempts = if generate.is_empty() {
        1
    } else {
        GENERATE_NAME_ATTEMPTS_MAX
    };
    for attempt in 1..=attempts {
        let mut candidate = object.clone();
        if !generate.is_empty() && meta_str(&candidate, "name").is_empty() {
            set_meta(
                &mut candidate,
                "name",
                format!("{generate}{}", random_suffix()).into(),
            );
        }
        admission::prepare_for_create(call.path.kind, &mut candidate);
        let admitted = admission::admit(call.path.kind, candidate, call.query.strict)?;
        let name = meta_str(&admitted.object, "name").to_string();
        if call.path.kind == Kind::Node && !authz::may_create_node(call.role, &name) {
            return Err(ApiError::Forbidden {
                user: authz::user_name(call.role),
                verb: call.verb,
                kind: call.path.kind,
                namespace: None,
                name: Some(name),
            });
        }
        let key = key_of(&admitted.object).ok_or_else(|| ApiError::BadBody {
            problem: "the object has no name".to_string(),
        })?;
        let namespace = key.namespace.clone();
        let to_store = admitted.object;
        let result = call
            .state
            .store_op(move |store| {
                if let Some(namespace) = &namespace {
                    if let Err(e) = namespaces::accepts(store, namespace) {
                        return Ok(Err(e));
                    }
                }
                match store.create(&key, to_store) {
                    Ok(created) => Ok(Ok(created)),
                    Err(StoreError::AlreadyExists(key)) => Ok(Err(ApiError::AlreadyExists {
                        kind: key.kind,
                        name: key.name,
                    })),
                    Err(e) => Err(e),
                }
            })
            .await?;
        match result {
            Ok(created) => {
                return Ok(document(
                    StatusCode::CREATED,
                    call.format,
                    &created,
                    &admitted.warnings,
                ))
            }
            Err(ApiError::AlreadyExists { .. }) if attempt < attempts => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last attempt returns")
}
