//! The database users of least privilege: what each may do, read from the
//! SQL the schema runs.

use warehouse_schema::schema;
use warehouse_schema::users::{self, Login, LoginError, Users, password_hash};

fn login(username: &str, password: &str) -> Login {
    Login {
        username: username.to_owned(),
        password: password.to_owned(),
    }
}

fn users() -> Users {
    Users {
        owner: login("retail_owner", "Owner-Pass-1234567890"),
        loader: login("retail_loader", "Loader-Pass-1234567890"),
        reader: login("retail_reader", "Reader-Pass-1234567890"),
    }
}

/// The statements that name `user` in a GRANT.
fn grants_to(user: &str) -> Vec<String> {
    users::statements(&users())
        .into_iter()
        .filter(|sql| sql.starts_with("GRANT ") && sql.ends_with(&format!(" TO {user}")))
        .collect()
}

fn views() -> Vec<&'static str> {
    schema::VIEWS.iter().map(|(name, _)| *name).collect()
}

#[test]
fn the_loader_may_only_insert_into_firehoses_staging_table() {
    assert_eq!(
        grants_to("retail_loader"),
        ["GRANT INSERT ON public.transactions_staging TO retail_loader"]
    );
}

#[test]
fn the_reader_may_only_select_the_table_and_the_views() {
    let expected = format!(
        "GRANT SELECT ON public.transactions, {} TO retail_reader",
        views().join(", ")
    );
    assert_eq!(grants_to("retail_reader"), [expected]);
}

#[test]
fn the_owner_owns_the_tables_and_every_view_and_may_only_create_in_the_schema() {
    let sqls = users::statements(&users());
    let mut owned = vec!["public.transactions", "public.transactions_staging"];
    owned.extend(views());
    for relation in owned {
        assert!(
            sqls.contains(&format!("ALTER TABLE {relation} OWNER TO retail_owner")),
            "{relation} is not owned by the owner"
        );
    }
    // The private warehouse's loader (as the owner) creates its loads table.
    assert_eq!(
        grants_to("retail_owner"),
        ["GRANT CREATE ON SCHEMA public TO retail_owner"]
    );
}

#[test]
fn public_keeps_no_privilege_on_the_data_and_cannot_create_in_the_schema() {
    let sqls = users::statements(&users());
    let mut relations = vec!["public.transactions", "public.transactions_staging"];
    relations.extend(views());
    assert!(sqls.contains(&format!(
        "REVOKE ALL ON {} FROM PUBLIC",
        relations.join(", ")
    )));
    assert!(sqls.contains(&"REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_owned()));
    assert!(
        sqls.iter()
            .all(|sql| !(sql.starts_with("GRANT") && sql.contains("PUBLIC")))
    );
}

#[test]
fn users_are_created_once_without_a_password_then_given_their_secrets_hash() {
    let sqls = users::statements(&users());
    for user in ["retail_owner", "retail_loader", "retail_reader"] {
        let create = sqls
            .iter()
            .position(|sql| *sql == format!("CALL public.create_user_if_missing('{user}')"))
            .unwrap_or_else(|| panic!("{user} is not created"));
        let password = sqls
            .iter()
            .position(|sql| sql.starts_with(&format!("ALTER USER {user} PASSWORD 'md5")))
            .unwrap_or_else(|| panic!("{user} gets no password"));
        assert!(create < password);
    }
    assert!(sqls[0].contains("IF NOT EXISTS (SELECT 1 FROM pg_user WHERE usename = user_name)"));
    assert!(sqls[0].contains("PASSWORD DISABLE"));
}

#[test]
fn a_password_reaches_redshift_only_as_its_md5_hash() {
    // md5("Owner-Pass-1234567890" || "retail_owner"), by Python's hashlib.
    assert_eq!(
        password_hash(&users().owner),
        "md55a98f03771f063e8ffb7723ccfe8c0b5"
    );
    let text = users::statements(&users()).join("\n");
    for clear in ["Owner-Pass", "Loader-Pass", "Reader-Pass"] {
        assert!(!text.contains(clear), "{clear} is in the SQL");
    }
}

#[test]
fn a_username_that_is_not_a_plain_identifier_is_refused() {
    for bad in ["Retail", "x; DROP TABLE t", "1user", "", "user-name"] {
        let mut users = users();
        users.loader.username = bad.to_owned();
        assert_eq!(
            users.checked(),
            Err(LoginError::Username {
                role: "loader",
                username: bad.to_owned()
            }),
            "{bad:?}"
        );
    }
}

#[test]
fn a_password_redshift_refuses_is_refused_before_any_sql() {
    for bad in ["short1A", "alllowercase123", "NoDigitsHere", "With'Quote1"] {
        let mut users = users();
        users.reader.password = bad.to_owned();
        assert_eq!(
            users.checked(),
            Err(LoginError::Password { role: "reader" }),
            "{bad:?}"
        );
    }
}

#[test]
fn two_roles_sharing_a_user_are_refused() {
    let mut users = users();
    users.reader.username = "retail_owner".to_owned();
    assert_eq!(
        users.checked(),
        Err(LoginError::Shared {
            username: "retail_owner".to_owned()
        })
    );
}

#[test]
fn a_login_never_prints_its_password() {
    let text = format!("{:?}", users());
    assert!(!text.contains("Pass-1234"), "{text}");
}
