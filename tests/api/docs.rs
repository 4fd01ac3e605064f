//! The README stays true: every var and secret the code reads is in its configuration table.

use crate::helpers::root;

#[test]
fn every_var_the_code_reads_is_documented() {
    let env = std::fs::read_to_string(root().join("src/env.rs")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let example = std::fs::read_to_string(root().join(".dev.vars.example")).unwrap();
    let mut names = Vec::new();
    for call in ["var(env, \"", "number(env, \"", "usd(\""] {
        for (i, _) in env.match_indices(call) {
            let rest = &env[i + call.len()..];
            names.push(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    assert!(names.len() >= 15, "found only {names:?}");
    for name in &names {
        assert!(readme.contains(&format!("`{name}`")), "{name} is read in src/env.rs but not documented in README.md");
    }
    for secret in ["SESSION_SECRET", "ADMIN_TOKEN", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "CF_AIG_TOKEN"] {
        assert!(example.contains(&format!("{secret}=")), "{secret} missing from .dev.vars.example");
    }
}
