// Plans → SQLite statements. DML and queries are one statement with bound values; DDL is the
// SQLite statement plus the catalog rows that keep each column's Postgres type.
import { CATALOG_TABLE, OBJECTS_TABLE } from "../catalog/catalog.ts";
import { sqliteDeclType } from "../catalog/types.ts";
import { type ColumnDef, type DdlPlan, type ForeignKey, storedAst, type TableConstraint } from "../plan/ddl.ts";
import type { BExpr } from "../plan/expr-types.ts";
import type { DeleteOp, InsertOp, ProjectItem, UpdateOp } from "../plan/ops/index.ts";
import type { Plan } from "../plan/plan.ts";
import { type EmittedSql, SqlWriter } from "./emitted.ts";
import { ExprEmitter } from "./expr.ts";
import { emitQuery, fromClause } from "./query.ts";
import { quoteIdent } from "./quote.ts";

function finish(w: SqlWriter, sql: string): EmittedSql {
  return { sql, slots: w.slots };
}

/** WITH … written in front of INSERT / UPDATE / DELETE. */
function withPrefix(op: InsertOp | UpdateOp | DeleteOp, w: SqlWriter): string {
  if (!op.with) return "";
  const ctes = op.with.ctes.map(
    (c) =>
      `${quoteIdent(c.name)}${c.columns ? `(${c.columns.map(quoteIdent).join(", ")})` : ""} AS (${emitQuery(c.query, w)})`,
  );
  return `WITH ${op.with.recursive ? "RECURSIVE " : ""}${ctes.join(", ")} `;
}

function returning(items: ProjectItem[], e: ExprEmitter, check?: BExpr): string {
  const all = check ? [...items, { expr: check, name: "_cave_check" }] : items;
  if (!all.length) return "";
  return ` RETURNING ${all.map((i) => `${e.emit(i.expr)} AS ${quoteIdent(i.name)}`).join(", ")}`;
}

function emitInsert(op: InsertOp): EmittedSql {
  const w = new SqlWriter(false);
  const e = new ExprEmitter(w, emitQuery);
  let sql = `${withPrefix(op, w)}INSERT INTO ${quoteIdent(op.table)} AS ${quoteIdent(op.alias)}`;
  if (!op.source) sql += " DEFAULT VALUES";
  else {
    sql += ` (${op.columns.map(quoteIdent).join(", ")})`;
    if ("rows" in op.source)
      sql += ` VALUES ${op.source.rows.map((r) => `(${r.map((x) => e.emit(x)).join(", ")})`).join(", ")}`;
    // SQLite reads "SELECT … ON CONFLICT" as a join constraint unless the SELECT has a WHERE.
    else if (op.onConflict) sql += ` SELECT * FROM (${emitQuery(op.source.query, w)}) WHERE 1`;
    else sql += ` ${emitQuery(op.source.query, w)}`;
  }
  if (op.onConflict) {
    const target = op.onConflict.target.length ? ` (${op.onConflict.target.map(quoteIdent).join(", ")})` : "";
    const action = op.onConflict.action;
    if (action === "nothing") sql += ` ON CONFLICT${target} DO NOTHING`;
    else {
      sql += ` ON CONFLICT${target} DO UPDATE SET ${action.set.map((s) => `${quoteIdent(s.column)} = ${e.emit(s.expr)}`).join(", ")}`;
      if (action.where) sql += ` WHERE ${e.emit(action.where)}`;
    }
  }
  return finish(w, sql + returning(op.returning, e, op.check));
}

function emitUpdate(op: UpdateOp): EmittedSql {
  const w = new SqlWriter(false);
  const e = new ExprEmitter(w, emitQuery);
  const sets = op.set.map((s) => `${quoteIdent(s.column)} = ${e.emit(s.expr)}`).join(", ");
  let sql = `${withPrefix(op, w)}UPDATE ${quoteIdent(op.table)} AS ${quoteIdent(op.alias)} SET ${sets}`;
  if (op.from) {
    sql += ` FROM ${fromClause(op.from, w)}`;
  }
  if (op.where) sql += ` WHERE ${e.emit(op.where)}`;
  return finish(w, sql + returning(op.returning, e, op.check));
}

function emitDelete(op: DeleteOp): EmittedSql {
  const w = new SqlWriter(false);
  const e = new ExprEmitter(w, emitQuery);
  const alias = quoteIdent(op.alias);
  let sql = `${withPrefix(op, w)}DELETE FROM ${quoteIdent(op.table)} AS ${alias}`;
  if (op.using) {
    // SQLite has no DELETE … USING: delete the target rows the join finds, by rowid. Inside
    // the subquery the target's alias names the subquery's own scan of it.
    const from = fromClause(
      {
        op: "join",
        kind: "cross",
        left: { op: "scan", table: op.table, alias: op.alias, source: "table", columns: [] },
        right: op.using,
        on: null,
        using: null,
        natural: false,
      },
      w,
    );
    sql += ` WHERE ${alias}.rowid IN (SELECT ${alias}.rowid FROM ${from}${op.where ? ` WHERE ${e.emit(op.where)}` : ""})`;
  } else if (op.where) sql += ` WHERE ${e.emit(op.where)}`;
  return finish(w, sql + returning(op.returning, e));
}

function fkClause(fk: ForeignKey): string {
  let s = ` REFERENCES ${quoteIdent(fk.table)}`;
  if (fk.refColumns.length) s += ` (${fk.refColumns.map(quoteIdent).join(", ")})`;
  if (fk.onDelete) s += ` ON DELETE ${fk.onDelete}`;
  if (fk.onUpdate) s += ` ON UPDATE ${fk.onUpdate}`;
  return s;
}

function columnSql(c: ColumnDef, e: ExprEmitter): string {
  let s = quoteIdent(c.name);
  if (c.identity && c.primaryKey) s += " INTEGER PRIMARY KEY AUTOINCREMENT";
  else {
    s += ` ${sqliteDeclType(c.type)}`;
    if (c.primaryKey) s += " PRIMARY KEY";
  }
  if (c.notNull) s += " NOT NULL";
  if (c.unique) s += " UNIQUE";
  if (c.default) s += ` DEFAULT (${e.emit(c.default)})`;
  for (const k of c.checks) s += ` CHECK (${e.emit(k)})`;
  // varchar(n) / char(n): Postgres refuses longer values (22001); a named CHECK does it here,
  // and the executor turns its failure back into Postgres's error.
  const len = /^(varchar|bpchar)\((\d+)\)$/.exec(c.type);
  if (len)
    s += ` CONSTRAINT ${quoteIdent(`${LENGTH_CHECK}${len[1]}_${len[2]}`)} CHECK (length(${quoteIdent(c.name)}) <= ${len[2]})`;
  if (c.references) s += fkClause(c.references);
  return s;
}

/** Prefix of the CHECK constraints that enforce varchar(n)/char(n) lengths. */
export const LENGTH_CHECK = "_cave_length_";

function constraintSql(k: TableConstraint, e: ExprEmitter): string {
  const name = k.name ? `CONSTRAINT ${quoteIdent(k.name)} ` : "";
  switch (k.kind) {
    case "primary":
      return `${name}PRIMARY KEY (${k.columns.map(quoteIdent).join(", ")})`;
    case "unique":
      return `${name}UNIQUE (${k.columns.map(quoteIdent).join(", ")})`;
    case "foreign":
      return `${name}FOREIGN KEY (${k.fk.columns.map(quoteIdent).join(", ")})${fkClause(k.fk)}`;
    case "check":
      return `${name}CHECK (${e.emit(k.expr)})`;
  }
}

function catalogRow(
  rel: string,
  pos: number,
  c: { name: string; type: string; notNull: boolean; hasDefault: boolean },
): EmittedSql {
  return {
    sql: `INSERT OR REPLACE INTO ${quoteIdent(CATALOG_TABLE)} (rel, pos, name, type, not_null, has_default) VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
    slots: [rel, pos, c.name, c.type, c.notNull ? 1 : 0, c.hasDefault ? 1 : 0].map((value) => ({
      kind: "const",
      value,
    })),
  };
}

function consts(sql: string, values: (string | number)[]): EmittedSql {
  return { sql, slots: values.map((value) => ({ kind: "const", value })) };
}

const OBJECTS = quoteIdent(OBJECTS_TABLE);

function putObject(kind: string, rel: string, name: string, data: string): EmittedSql {
  return consts(`INSERT OR REPLACE INTO ${OBJECTS} (kind, rel, name, data) VALUES (?1, ?2, ?3, ?4)`, [
    kind,
    rel,
    name,
    data,
  ]);
}

/** Everything cave's object catalog keeps about a dropped relation. */
function dropObjects(rel: string): EmittedSql {
  return consts(`DELETE FROM ${OBJECTS} WHERE rel = ?1`, [rel]);
}

function authDefaultRows(table: string, columns: ColumnDef[]): EmittedSql[] {
  return columns
    .filter((c) => c.authDefault !== undefined)
    .map((c) => putObject("default", table, c.name, storedAst(c.authDefault)));
}

/** DDL → the statements to run in order (in one savepoint). */
export function emitDdl(plan: DdlPlan): EmittedSql[] {
  const w = new SqlWriter(true);
  const e = new ExprEmitter(w, emitQuery);
  switch (plan.kind) {
    case "create_table": {
      const parts = [...plan.columns.map((c) => columnSql(c, e)), ...plan.constraints.map((k) => constraintSql(k, e))];
      const create = `CREATE TABLE ${plan.ifNotExists ? "IF NOT EXISTS " : ""}${quoteIdent(plan.table)} (${parts.join(", ")})`;
      const rows = plan.columns.map((c, i) =>
        catalogRow(plan.table, i + 1, {
          name: c.name,
          type: c.type,
          notNull: c.notNull,
          hasDefault: !!c.default || c.identity || !!c.authDefault,
        }),
      );
      const steps: EmittedSql[] = [
        { sql: create, slots: [] },
        dropObjects(plan.table),
        ...rows,
        ...authDefaultRows(plan.table, plan.columns),
      ];
      if (plan.asQuery) {
        const q = new SqlWriter(false);
        const cols = plan.columns.map((c) => quoteIdent(c.name)).join(", ");
        steps.push(finish(q, `INSERT INTO ${quoteIdent(plan.table)} (${cols}) ${emitQuery(plan.asQuery, q)}`));
      }
      return steps;
    }
    case "truncate":
      return plan.tables.map((t) => ({ sql: `DELETE FROM ${quoteIdent(t)}`, slots: [] }));
    case "create_index": {
      const keys = plan.keys.map((k) => `${e.emit(k.expr)}${k.desc ? " DESC" : ""}`).join(", ");
      let sql = `CREATE ${plan.unique ? "UNIQUE " : ""}INDEX ${plan.ifNotExists ? "IF NOT EXISTS " : ""}${quoteIdent(plan.name)} ON ${quoteIdent(plan.table)} (${keys})`;
      if (plan.where) sql += ` WHERE ${e.emit(plan.where)}`;
      return [{ sql, slots: [] }];
    }
    case "create_view": {
      const steps: EmittedSql[] = [];
      if (plan.orReplace) {
        steps.push({ sql: `DROP VIEW IF EXISTS ${quoteIdent(plan.name)}`, slots: [] });
        steps.push(consts(`DELETE FROM ${quoteIdent(CATALOG_TABLE)} WHERE rel = ?1`, [plan.name]));
      }
      const cols = plan.columns.map((c) => quoteIdent(c.name)).join(", ");
      steps.push({
        sql: `CREATE VIEW ${plan.ifNotExists ? "IF NOT EXISTS " : ""}${quoteIdent(plan.name)} (${cols}) AS ${emitQuery(plan.query, w)}`,
        slots: [],
      });
      plan.columns.forEach((c, i) => {
        steps.push(catalogRow(plan.name, i + 1, { name: c.name, type: c.type, notNull: false, hasDefault: false }));
      });
      steps.push(putObject("view", plan.name, "", storedAst(plan.ast)));
      return steps;
    }
    case "drop": {
      const kw = plan.object.toUpperCase();
      const views = plan.cascadeViews.flatMap((v) => [
        { sql: `DROP VIEW IF EXISTS ${quoteIdent(v)}`, slots: [] },
        consts(`DELETE FROM ${quoteIdent(CATALOG_TABLE)} WHERE rel = ?1`, [v]),
        dropObjects(v),
      ]);
      return [
        ...views,
        ...plan.names.flatMap((n) => [
          { sql: `DROP ${kw} ${plan.ifExists ? "IF EXISTS " : ""}${quoteIdent(n)}`, slots: [] },
          // A dropped table's policies, row-security flags and auth defaults go with it.
          ...(plan.object === "index"
            ? []
            : [consts(`DELETE FROM ${quoteIdent(CATALOG_TABLE)} WHERE rel = ?1`, [n]), dropObjects(n)]),
        ]),
      ];
    }
    case "alter_table": {
      const steps: EmittedSql[] = [];
      let table = plan.table;
      const t = () => quoteIdent(table);
      for (const a of plan.actions) {
        switch (a.action) {
          case "add_column":
            steps.push({ sql: `ALTER TABLE ${t()} ADD COLUMN ${columnSql(a.column, e)}`, slots: [] });
            // The new column goes after every position the table has used, dropped ones included.
            steps.push({
              sql: `INSERT INTO ${quoteIdent(CATALOG_TABLE)} (rel, pos, name, type, not_null, has_default) SELECT ?1, coalesce(max(pos), 0) + 1, ?2, ?3, ?4, ?5 FROM ${quoteIdent(CATALOG_TABLE)} WHERE rel = ?1`,
              slots: [
                table,
                a.column.name,
                a.column.type,
                a.column.notNull ? 1 : 0,
                a.column.default || a.column.authDefault ? 1 : 0,
              ].map((value) => ({ kind: "const" as const, value })),
            });
            steps.push(...authDefaultRows(table, [a.column]));
            break;
          case "drop_column":
            steps.push({ sql: `ALTER TABLE ${t()} DROP COLUMN ${quoteIdent(a.column)}`, slots: [] });
            steps.push(
              consts(`DELETE FROM ${quoteIdent(CATALOG_TABLE)} WHERE rel = ?1 AND name = ?2`, [table, a.column]),
            );
            steps.push(
              consts(`DELETE FROM ${OBJECTS} WHERE kind = 'default' AND rel = ?1 AND name = ?2`, [table, a.column]),
            );
            break;
          case "rename_column":
            steps.push({
              sql: `ALTER TABLE ${t()} RENAME COLUMN ${quoteIdent(a.from)} TO ${quoteIdent(a.to)}`,
              slots: [],
            });
            steps.push(
              consts(`UPDATE ${quoteIdent(CATALOG_TABLE)} SET name = ?1 WHERE rel = ?2 AND name = ?3`, [
                a.to,
                table,
                a.from,
              ]),
            );
            steps.push(
              consts(`UPDATE ${OBJECTS} SET name = ?1 WHERE kind = 'default' AND rel = ?2 AND name = ?3`, [
                a.to,
                table,
                a.from,
              ]),
            );
            break;
          case "add_unique":
            steps.push({
              sql: `CREATE UNIQUE INDEX ${quoteIdent(a.name)} ON ${t()} (${a.columns.map(quoteIdent).join(", ")})`,
              slots: [],
            });
            break;
          case "drop_index":
            steps.push({ sql: `DROP INDEX ${quoteIdent(a.name)}`, slots: [] });
            break;
          case "rename_table":
            steps.push({ sql: `ALTER TABLE ${t()} RENAME TO ${quoteIdent(a.to)}`, slots: [] });
            steps.push(consts(`UPDATE ${quoteIdent(CATALOG_TABLE)} SET rel = ?1 WHERE rel = ?2`, [a.to, table]));
            steps.push(consts(`UPDATE ${OBJECTS} SET rel = ?1 WHERE rel = ?2`, [a.to, table]));
            table = a.to;
            break;
          case "rls":
            steps.push(putObject("rls", table, "", JSON.stringify({ enabled: a.enabled, forced: a.forced })));
            break;
        }
      }
      return steps;
    }
    case "objects":
      return plan.writes.map((o) =>
        o.data === null
          ? consts(`DELETE FROM ${OBJECTS} WHERE kind = ?1 AND rel = ?2 AND name = ?3`, [o.kind, o.rel, o.name])
          : putObject(o.kind, o.rel, o.name, o.data),
      );
  }
}

/** A query or DML plan → its one SQLite statement. */
export function emitDml(
  plan: Extract<Plan, { kind: "query" | "insert" | "update" | "delete" }>,
  paramTypes: readonly string[] = [],
): EmittedSql {
  let out: EmittedSql;
  switch (plan.kind) {
    case "query": {
      const w = new SqlWriter(false);
      out = finish(w, emitQuery(plan.op, w));
      break;
    }
    case "insert":
      out = emitInsert(plan.op);
      break;
    case "update":
      out = emitUpdate(plan.op);
      break;
    case "delete":
      out = emitDelete(plan.op);
      break;
  }
  // A parameter's type may be learned after its first use was written (`$1 = n`): bind by the final one.
  for (const slot of out.slots)
    if (slot.kind === "param" && paramTypes[slot.index - 1]) slot.type = paramTypes[slot.index - 1]!;
  return out;
}
