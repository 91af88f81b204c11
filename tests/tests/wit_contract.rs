//! The `kms:vault` WIT contract, read with the same parser wasmtime's bindgen uses: the package,
//! its worlds and the shapes the security rules rely on (keys are handles, `reveal` is imported
//! only where granted, one error vocabulary).

use std::collections::BTreeSet;

use wit_parser::{
    Function, Handle, InterfaceId, PackageId, Resolve, Type, TypeDefKind, TypeId, TypeOwner,
    WorldId, WorldItem, WorldKey,
};

const WIT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../wit");

/// Every world the contract promises.
const WORLDS: [&str; 6] = [
    "policy-plugin",
    "data-key-wrapper",
    "tenant-app",
    "tenant-app-with-reveal",
    "tenant-command",
    "tenant-command-with-reveal",
];

/// Every interface the contract promises.
const INTERFACES: [&str; 9] = [
    "types",
    "keys",
    "data-keys",
    "reveal",
    "policy",
    "envelope",
    "log",
    "config",
    "app",
];

/// The `kms:vault` package, parsed and resolved.
struct Contract {
    resolve: Resolve,
    package: PackageId,
}

impl Contract {
    fn load() -> Self {
        let mut resolve = Resolve::default();
        let (package, _sources) = resolve
            .push_dir(WIT_DIR)
            .unwrap_or_else(|e| panic!("wit/ does not parse: {e:?}"));
        Contract { resolve, package }
    }

    fn world(&self, name: &str) -> WorldId {
        *self.resolve.packages[self.package]
            .worlds
            .get(name)
            .unwrap_or_else(|| panic!("world `{name}` is missing"))
    }

    fn interface(&self, name: &str) -> InterfaceId {
        *self.resolve.packages[self.package]
            .interfaces
            .get(name)
            .unwrap_or_else(|| panic!("interface `{name}` is missing"))
    }

    /// The named type of interface `interface`.
    fn type_in(&self, interface: &str, name: &str) -> TypeId {
        *self.resolve.interfaces[self.interface(interface)]
            .types
            .get(name)
            .unwrap_or_else(|| panic!("type `{name}` is missing from `{interface}`"))
    }

    /// The type `id` names, with every `type a = b` alias and `use` followed to the definition.
    fn root(&self, mut id: TypeId) -> TypeId {
        while let TypeDefKind::Type(Type::Id(next)) = self.resolve.types[id].kind {
            id = next;
        }
        id
    }

    fn definition(&self, id: TypeId) -> &TypeDefKind {
        &self.resolve.types[self.root(id)].kind
    }

    fn function(&self, interface: &str, name: &str) -> &Function {
        self.resolve.interfaces[self.interface(interface)]
            .functions
            .get(name)
            .unwrap_or_else(|| panic!("function `{name}` is missing from `{interface}`"))
    }

    /// The names of an interface's functions; resource methods read `[method]key.encrypt`.
    fn functions(&self, interface: &str) -> BTreeSet<&str> {
        self.resolve.interfaces[self.interface(interface)]
            .functions
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// The interfaces a world imports or exports, as full ids (`kms:vault/log@0.2.0`), so an
    /// interface of another package can never pass for one of ours.
    fn interfaces_of<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a WorldKey, &'a WorldItem)>,
    ) -> BTreeSet<String> {
        items
            .into_iter()
            .map(|(key, item)| match item {
                WorldItem::Interface { .. } => self.resolve.name_world_key(key),
                other => panic!("worlds hold interfaces only, found {other:?}"),
            })
            .collect()
    }

    fn imports(&self, world: &str) -> BTreeSet<String> {
        self.interfaces_of(&self.resolve.worlds[self.world(world)].imports)
    }

    fn exports(&self, world: &str) -> BTreeSet<String> {
        self.interfaces_of(&self.resolve.worlds[self.world(world)].exports)
    }
}

/// The full id of one of our interfaces, as world imports and exports name it.
fn vault(interface: &str) -> String {
    format!("kms:vault/{interface}@0.2.0")
}

fn vault_set(interfaces: &[&str]) -> BTreeSet<String> {
    interfaces.iter().map(|i| vault(i)).collect()
}

#[test]
fn package_is_kms_vault_0_1_0() {
    let contract = Contract::load();
    let name = &contract.resolve.packages[contract.package].name;
    assert_eq!(name.to_string(), "kms:vault@0.2.0");
}

#[test]
fn package_defines_every_interface_of_the_contract() {
    let contract = Contract::load();
    for interface in INTERFACES {
        contract.interface(interface);
    }
}

#[test]
fn every_world_of_the_contract_exists() {
    let contract = Contract::load();
    let defined: BTreeSet<&str> = contract.resolve.packages[contract.package]
        .worlds
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(defined, BTreeSet::from(WORLDS));
}

#[test]
fn policy_plugin_imports_nothing_but_log_config_and_the_types_policy_needs() {
    let contract = Contract::load();
    assert_eq!(
        contract.imports("policy-plugin"),
        vault_set(&["log", "config", "types"])
    );
}

#[test]
fn policy_plugin_exports_policy_only() {
    let contract = Contract::load();
    assert_eq!(contract.exports("policy-plugin"), vault_set(&["policy"]));
}

#[test]
fn data_key_wrapper_imports_keys_data_keys_and_log_without_reveal() {
    let contract = Contract::load();
    assert_eq!(
        contract.imports("data-key-wrapper"),
        vault_set(&["types", "keys", "data-keys", "log", "config"])
    );
}

#[test]
fn data_key_wrapper_exports_envelope_only() {
    let contract = Contract::load();
    assert_eq!(
        contract.exports("data-key-wrapper"),
        vault_set(&["envelope"])
    );
}

#[test]
fn tenant_app_imports_keys_data_keys_and_log_and_exports_nothing() {
    let contract = Contract::load();
    assert_eq!(
        contract.imports("tenant-app"),
        vault_set(&["types", "keys", "data-keys", "log"])
    );
    assert!(contract.exports("tenant-app").is_empty());
}

#[test]
fn tenant_app_does_not_import_reveal() {
    let contract = Contract::load();
    assert!(!contract.imports("tenant-app").contains(&vault("reveal")));
}

#[test]
fn tenant_app_with_reveal_imports_reveal() {
    let contract = Contract::load();
    assert!(
        contract
            .imports("tenant-app-with-reveal")
            .contains(&vault("reveal"))
    );
}

#[test]
fn tenant_app_with_reveal_adds_nothing_but_reveal_to_tenant_app() {
    let contract = Contract::load();
    let mut expected = contract.imports("tenant-app");
    expected.insert(vault("reveal"));
    assert_eq!(contract.imports("tenant-app-with-reveal"), expected);
    assert_eq!(
        contract.exports("tenant-app-with-reveal"),
        contract.exports("tenant-app")
    );
}

#[test]
fn only_tenant_app_with_reveal_imports_reveal() {
    let contract = Contract::load();
    let importers: Vec<&str> = WORLDS
        .into_iter()
        .filter(|world| contract.imports(world).contains(&vault("reveal")))
        .collect();
    assert_eq!(
        importers,
        ["tenant-app-with-reveal", "tenant-command-with-reveal"]
    );
}

#[test]
fn tenant_commands_are_tenant_apps_that_export_app() {
    let contract = Contract::load();
    for (command, app) in [
        ("tenant-command", "tenant-app"),
        ("tenant-command-with-reveal", "tenant-app-with-reveal"),
    ] {
        let mut expected = contract.imports(app);
        expected.insert(vault("types"));
        assert_eq!(contract.imports(command), expected, "{command}");
        assert_eq!(contract.exports(command), vault_set(&["app"]), "{command}");
    }
}

#[test]
fn key_is_a_resource() {
    let contract = Contract::load();
    let key = contract.type_in("keys", "key");
    assert_eq!(contract.resolve.types[key].kind, TypeDefKind::Resource);
}

#[test]
fn data_key_is_a_resource() {
    let contract = Contract::load();
    let data_key = contract.type_in("data-keys", "data-key");
    assert_eq!(contract.resolve.types[data_key].kind, TypeDefKind::Resource);
}

#[test]
fn keys_offers_exactly_the_contract_operations() {
    let contract = Contract::load();
    assert_eq!(
        contract.functions("keys"),
        BTreeSet::from([
            "[method]key.metadata",
            "[method]key.encrypt",
            "[method]key.generate-data-key-without-plaintext",
            "[method]key.sign",
            "[method]key.verify",
            "[method]key.public-key",
            "[method]key.generate-mac",
            "[method]key.verify-mac",
            "[method]key.derive-shared-secret",
            "[method]key.encapsulate",
            "[method]key.decapsulate",
            "[method]key.generate-data-key-pair-without-plaintext",
            "open",
            "decrypt",
            "re-encrypt",
            "generate-random",
        ])
    );
}

#[test]
fn private_keys_of_data_key_pairs_reach_a_guest_only_through_reveal() {
    let contract = Contract::load();
    assert_eq!(
        contract.functions("reveal"),
        BTreeSet::from(["export-plaintext", "generate-data-key-pair"])
    );
    // What `keys` hands out of a data key pair has no plaintext private key in it.
    let pair = contract.type_in("types", "data-key-pair");
    let TypeDefKind::Record(record) = &contract.resolve.types[pair].kind else {
        panic!("data-key-pair is a record");
    };
    let fields: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(fields, ["public-key", "private-key-ciphertext"]);
}

#[test]
fn data_keys_offers_no_plaintext_export() {
    let contract = Contract::load();
    assert_eq!(
        contract.functions("data-keys"),
        BTreeSet::from([
            "[method]data-key.wrapped",
            "[method]data-key.age-ms",
            "[method]data-key.seal",
            "[method]data-key.open",
            "generate",
            "unwrap",
        ])
    );
}

#[test]
fn open_is_the_only_import_that_names_a_key_by_string() {
    let contract = Contract::load();
    let mut takes_a_string = Vec::new();
    for interface in ["keys", "data-keys", "reveal"] {
        for function in contract.resolve.interfaces[contract.interface(interface)]
            .functions
            .values()
        {
            if function.params.iter().any(|p| p.ty == Type::String) {
                takes_a_string.push(format!("{interface}.{}", function.name));
            }
        }
    }
    assert_eq!(takes_a_string, ["keys.open"]);
}

#[test]
fn open_returns_an_owned_key_handle() {
    let contract = Contract::load();
    let open = contract.function("keys", "open");
    let Some(Type::Id(result)) = open.result else {
        panic!("open returns {:?}", open.result);
    };
    let TypeDefKind::Result(result) = contract.definition(result) else {
        panic!("open does not return a result");
    };
    let Some(Type::Id(ok)) = result.ok else {
        panic!("open's ok type is {:?}", result.ok);
    };
    let TypeDefKind::Handle(Handle::Own(resource)) = contract.definition(ok) else {
        panic!("open's ok type is not an owned handle");
    };
    assert_eq!(contract.root(*resource), contract.type_in("keys", "key"));
}

#[test]
fn export_plaintext_borrows_a_data_key() {
    let contract = Contract::load();
    let export = contract.function("reveal", "export-plaintext");
    let [param] = export.params.as_slice() else {
        panic!("export-plaintext takes {} parameters", export.params.len());
    };
    let Type::Id(param) = param.ty else {
        panic!("export-plaintext takes a {:?}", param.ty);
    };
    let TypeDefKind::Handle(Handle::Borrow(resource)) = contract.definition(param) else {
        panic!("export-plaintext does not borrow a handle");
    };
    assert_eq!(
        contract.root(*resource),
        contract.type_in("data-keys", "data-key")
    );
}

#[test]
fn kms_error_has_exactly_the_design_cases_each_carrying_an_error_detail() {
    let contract = Contract::load();
    let TypeDefKind::Variant(variant) = contract.definition(contract.type_in("types", "kms-error"))
    else {
        panic!("kms-error is not a variant");
    };
    let detail = contract.type_in("types", "error-detail");
    let cases: Vec<&str> = variant
        .cases
        .iter()
        .map(|case| {
            let Some(Type::Id(payload)) = case.ty else {
                panic!("{} carries {:?}, not an error-detail", case.name, case.ty);
            };
            assert_eq!(contract.root(payload), detail, "{}", case.name);
            case.name.as_str()
        })
        .collect();
    assert_eq!(
        cases,
        [
            "not-found",
            "disabled",
            "invalid-state",
            "access-denied",
            "invalid-ciphertext",
            "incorrect-key",
            "invalid-key-usage",
            "validation",
            "limit-exceeded",
            "throttled",
            "invalid-signature",
            "invalid-mac",
            "internal",
        ]
    );
}

#[test]
fn error_detail_names_the_aws_exception_and_says_what_happened() {
    let contract = Contract::load();
    let TypeDefKind::Record(record) =
        contract.definition(contract.type_in("types", "error-detail"))
    else {
        panic!("error-detail is not a record");
    };
    let fields: Vec<(&str, Type)> = record
        .fields
        .iter()
        .map(|field| (field.name.as_str(), field.ty))
        .collect();
    assert_eq!(
        fields,
        [("aws-type", Type::String), ("message", Type::String)]
    );
}

#[test]
fn encryption_context_is_a_list_of_string_pairs() {
    let contract = Contract::load();
    let TypeDefKind::List(Type::Id(element)) =
        contract.definition(contract.type_in("types", "encryption-context"))
    else {
        panic!("encryption-context is not a list of a defined type");
    };
    let TypeDefKind::Tuple(pair) = contract.definition(*element) else {
        panic!("encryption-context's element is not a tuple");
    };
    assert_eq!(pair.types, [Type::String, Type::String]);
}

#[test]
fn every_interface_world_type_and_function_is_documented() {
    let contract = Contract::load();
    let resolve = &contract.resolve;
    let package = &resolve.packages[contract.package];
    let mut undocumented = Vec::new();
    let mut check = |what: String, docs: &wit_parser::Docs| {
        if docs.contents.as_deref().is_none_or(|d| d.trim().is_empty()) {
            undocumented.push(what);
        }
    };

    check("package".into(), &package.docs);
    for (name, world) in &package.worlds {
        check(format!("world {name}"), &resolve.worlds[*world].docs);
    }
    for (interface_name, &interface_id) in &package.interfaces {
        let interface = &resolve.interfaces[interface_id];
        check(format!("interface {interface_name}"), &interface.docs);
        for (name, function) in &interface.functions {
            check(format!("{interface_name}.{name}"), &function.docs);
        }
        for (name, ty) in &interface.types {
            let ty = &resolve.types[*ty];
            // A `use` brings in a type documented in the interface that defines it.
            let used_from_elsewhere = match ty.kind {
                TypeDefKind::Type(Type::Id(target)) => {
                    resolve.types[target].owner != TypeOwner::Interface(interface_id)
                }
                _ => false,
            };
            if used_from_elsewhere {
                continue;
            }
            check(format!("{interface_name}.{name}"), &ty.docs);
            let members: Vec<(&String, &wit_parser::Docs)> = match &ty.kind {
                TypeDefKind::Record(r) => r.fields.iter().map(|f| (&f.name, &f.docs)).collect(),
                TypeDefKind::Variant(v) => v.cases.iter().map(|c| (&c.name, &c.docs)).collect(),
                TypeDefKind::Enum(e) => e.cases.iter().map(|c| (&c.name, &c.docs)).collect(),
                _ => Vec::new(),
            };
            for (member, docs) in members {
                check(format!("{interface_name}.{name}.{member}"), docs);
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
}
