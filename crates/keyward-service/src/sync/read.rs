//! Stage 2: read the directory — everything in scope, or what changed since the cursor and
//! what that implies (members added or gone, the rotation group when it changed). Every search
//! error fails the read: a short read never looks complete.

use std::collections::{HashMap, HashSet};

use futures_util::{StreamExt, pin_mut};
use keyward_directory::{
    DirectoryConfig, DomainInfo, GUIDS_PER_QUERY, Group, Read, Scoping, Session, UserQuery,
};
use uuid::Uuid;

use super::batches::{InScope, Ours, Rotation};
use super::seen::{SeenUser, SeenUsers};
use super::{Progress, SyncProgress};
use crate::Result;

/// The two groups a run reads by.
#[derive(Debug)]
pub(super) struct Groups {
    /// The sync group.
    pub sync: Group,
    /// How to select its transitive members.
    pub sync_scoping: Scoping,
    /// The rotation group.
    pub rotation: Group,
}

/// Resolves the sync group (and how to select its members) and the rotation group.
pub(super) async fn groups(
    session: &mut Session,
    config: &DirectoryConfig,
    info: &DomainInfo,
) -> Result<Groups> {
    let (sync, sync_scoping) = session.scoping(config, info, &config.sync_group).await?;
    // The rotation group is read by walking its `member` values: it is usually small, and a
    // second LDAP_MATCHING_RULE_IN_CHAIN search over every user costs as much as the main read.
    let rotation = session
        .resolve_group(&info.base_dn, &config.rotation_group)
        .await?;
    Ok(Groups {
        sync,
        sync_scoping,
        rotation,
    })
}

/// A full read: the rotation group's members, then every user in scope.
pub(super) async fn full(
    session: &mut Session,
    info: &DomainInfo,
    groups: &Groups,
    progress: Progress<'_>,
) -> Result<(SeenUsers, Rotation)> {
    let rotation = session
        .walk_members(&info.base_dn, &groups.rotation)
        .await?;
    let mut seen = SeenUsers::default();
    let query = Session::full_query(info, groups.sync_scoping.clone());
    read_users(session, query, progress, &mut seen).await?;
    Ok((seen, Rotation::Walked(rotation)))
}

/// What an incremental run reads before it knows whether anything changed.
#[derive(Debug)]
pub(super) struct Changes {
    /// The cursor's USN.
    pub since: i64,
    /// Users in scope changed since.
    pub changed: SeenUsers,
    /// The highest uSNChanged in the sync group's tree.
    pub sync_tree: i64,
    /// The highest uSNChanged in the rotation group's tree.
    pub rotation_tree: i64,
    /// Users deleted since, or members changed since outside the base: some may have left
    /// scope without any group of the tree changing (see `Session::changed_outside_base`).
    pub outside: HashSet<Uuid>,
}

impl Changes {
    /// Nothing read, nothing skipped, no group changed, nobody deleted or moved out of the base.
    pub fn nothing(&self) -> bool {
        self.changed.read == 0
            && self.changed.skipped.is_empty()
            && self.sync_tree <= self.since
            && self.rotation_tree <= self.since
            && self.outside.is_empty()
    }
}

/// Reads what changed since `since`.
pub(super) async fn changes(
    session: &mut Session,
    info: &DomainInfo,
    groups: &Groups,
    since: i64,
    progress: Progress<'_>,
) -> Result<Changes> {
    // Before the read in scope, so that a user who changed in between is found in scope by it
    // rather than taken for one who left.
    let outside = session
        .changed_outside_base(info, &groups.sync, since)
        .await?;
    let mut query = Session::full_query(info, groups.sync_scoping.clone());
    query.changed_after_usn = Some(since);
    let mut changed = SeenUsers::default();
    read_users(session, query, progress, &mut changed).await?;
    let sync_tree = session.group_tree_usn(info, &groups.sync).await?;
    let rotation_tree = session.group_tree_usn(info, &groups.rotation).await?;
    Ok(Changes {
        since,
        changed,
        sync_tree,
        rotation_tree,
        outside,
    })
}

/// Completes an incremental read once the stored accounts are known: who is a member now,
/// the members new to keyward (read by objectGUID), and the rotation group when it changed or
/// a user comes (back) into scope with no stored flag to go by.
pub(super) async fn complete_incremental(
    session: &mut Session,
    info: &DomainInfo,
    groups: &Groups,
    changes: Changes,
    ours: &HashMap<Uuid, Ours>,
    progress: Progress<'_>,
) -> Result<(SeenUsers, InScope, Rotation)> {
    let Changes {
        since,
        mut changed,
        sync_tree,
        rotation_tree,
        outside,
    } = changes;
    let present = |g: &Uuid| ours.get(g).is_some_and(|o| o.present);
    let changed_ids: HashSet<Uuid> = changed.users.iter().map(SeenUser::object_guid).collect();
    let members: HashSet<Uuid> = if sync_tree > since {
        let (members, skipped) = session
            .member_guids(info, groups.sync_scoping.clone())
            .await?;
        for bad in skipped {
            changed.skip(bad);
        }
        members
    } else {
        // No group of the tree changed: the members are the stored ones, less those deleted or
        // moved out of the base since (neither changes a group), plus the changed users read in
        // scope (one that came back into the base is one).
        ours.iter()
            .filter(|(g, o)| o.present && !outside.contains(g))
            .map(|(g, _)| *g)
            .chain(changed_ids.iter().copied())
            .collect()
    };
    // Members new to keyward whose own entry did not change (added to a group).
    let mut new_ids: Vec<Uuid> = members
        .iter()
        .filter(|g| !present(g) && !changed_ids.contains(g))
        .copied()
        .collect();
    new_ids.sort_unstable();
    for chunk in new_ids.chunks(GUIDS_PER_QUERY) {
        let query = Session::users_by_guid_query(info, groups.sync_scoping.clone(), chunk);
        read_users(session, query, progress, &mut changed).await?;
    }
    let returning = changed
        .users
        .iter()
        .any(|u| members.contains(&u.object_guid()) && !present(&u.object_guid()));
    let rotation = if rotation_tree > since || returning {
        Rotation::Walked(
            session
                .walk_members(&info.base_dn, &groups.rotation)
                .await?,
        )
    } else {
        Rotation::AsStored
    };
    Ok((changed, InScope::Members(members), rotation))
}

/// Reads the users `query` selects into `into`; skipped entries are collected, any error fails
/// the read.
async fn read_users(
    session: &mut Session,
    query: UserQuery,
    progress: Progress<'_>,
    into: &mut SeenUsers,
) -> Result<()> {
    let stream = session.users(query);
    pin_mut!(stream);
    while let Some(item) = stream.next().await {
        match item? {
            Read::User(user) => {
                into.read += 1;
                if into.read.is_multiple_of(500) {
                    progress(SyncProgress::Reading { users: into.read });
                }
                into.users.push(SeenUser::new(&user));
            }
            Read::Skipped(bad) => into.skip(bad),
        }
    }
    progress(SyncProgress::Reading { users: into.read });
    Ok(())
}
