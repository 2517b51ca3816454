// Plans CREATE/ALTER/DROP of tables, indexes and views. Postgres types are kept for the
// catalog; defaults, checks and index expressions are bound against the table's own columns.
import type { PolicyCommand, PolicyInfo, RelationInfo } from "../catalog/catalog.ts";
import { isReservedName } from "../catalog/catalog.ts";
import { isIntegerType, typeFromAst, typeText } from "../catalog/types.ts";
import { DbError, featureNotSupported, SQLSTATE } from "../errors.ts";
import type { Ast } from "../parse/ast.ts";
import { firstLoc, tagOf } from "../parse/ast.ts";
import { coerceLiteral, typeDisplayName } from "./coerce.ts";
import type { PlanContext } from "./context.ts";
import { ExprBinder, identName } from "./expr.ts";
import type { BExpr, SortKey } from "./expr-types.ts";
import type { QueryOp } from "./ops/index.ts";
import { objectName, type QueryPlanner, relationName } from "./query.ts";
import { Scope } from "./scope.ts";

export interface ForeignKey {
  columns: string[];
  table: string;
  refColumns: string[];
  onDelete: string | null;
  onUpdate: string | null;
}

export interface ColumnDef {
  name: string;
  type: string;
  notNull: boolean;
  primaryKey: boolean;
  /** serial / GENERATED … AS IDENTITY: SQLite's rowid assigns it. */
  identity: boolean;
  unique: boolean;
  default: BExpr | null;
  checks: BExpr[];
  references: ForeignKey | null;
  /** A DEFAULT that calls auth.*: kept in cave's catalog and evaluated per statement, not by SQLite. */
  authDefault?: Ast;
}

export type TableConstraint =
  | { kind: "primary" | "unique"; name: string | null; columns: string[] }
  | { kind: "foreign"; name: string | null; fk: ForeignKey }
  | { kind: "check"; name: string | null; expr: BExpr };

export interface CreateTablePlan {
  kind: "create_table";
  table: string;
  ifNotExists: boolean;
  columns: ColumnDef[];
  constraints: TableConstraint[];
  /** CREATE TABLE … AS: the rows to fill it with. */
  asQuery: QueryOp | null;
}

export interface TruncatePlan {
  kind: "truncate";
  tables: string[];
}

export interface CreateIndexPlan {
  kind: "create_index";
  name: string;
  table: string;
  unique: boolean;
  ifNotExists: boolean;
  keys: SortKey[];
  where: BExpr | null;
}

export interface CreateViewPlan {
  kind: "create_view";
  name: string;
  orReplace: boolean;
  ifNotExists: boolean;
  columns: { name: string; type: string }[];
  query: QueryOp;
  /** The defining query as parsed: expanded at use, so policies are the caller's. */
  ast: Ast;
}

export interface DropPlan {
  kind: "drop";
  object: "table" | "view" | "index";
  names: string[];
  ifExists: boolean;
  /** DROP … CASCADE: views reading the dropped relations, dropped first. */
  cascadeViews: string[];
}

export type AlterAction =
  | { action: "add_column"; column: ColumnDef; ifNotExists: boolean }
  | { action: "drop_column"; column: string; ifExists: boolean }
  | { action: "rename_column"; from: string; to: string }
  | { action: "rename_table"; to: string }
  /** ADD [CONSTRAINT name] UNIQUE (cols): a unique index under the constraint's name. */
  | { action: "add_unique"; name: string; columns: string[] }
  /** DROP CONSTRAINT of a unique constraint added that way. */
  | { action: "drop_index"; name: string }
  /** [ENABLE|DISABLE] / [NO] FORCE ROW LEVEL SECURITY: the table's flags after the statement. */
  | { action: "rls"; enabled: boolean; forced: boolean };

export interface AlterTablePlan {
  kind: "alter_table";
  table: string;
  ifExists: boolean;
  actions: AlterAction[];
}

/** CREATE … IF NOT EXISTS of an object that exists: nothing to do (Postgres only notices). */
export interface SkipPlan {
  kind: "noop";
  command: string;
}

/** Writes to cave's object catalog alone (CREATE / ALTER / DROP POLICY). */
export interface ObjectsPlan {
  kind: "objects";
  command: string;
  /** Each row of `_cave_objects` to replace (data) or delete (data null). */
  writes: { kind: string; rel: string; name: string; data: string | null }[];
}

export type DdlPlan =
  | CreateTablePlan
  | TruncatePlan
  | CreateIndexPlan
  | CreateViewPlan
  | DropPlan
  | AlterTablePlan
  | ObjectsPlan;

/** An AST as stored in the catalog: positions dropped (they point into the creating statement). */
export function storedAst(ast: Ast): string {
  return JSON.stringify(ast, (k, v) => (k === "span" ? undefined : v));
}

function containsAuth(e: unknown): boolean {
  return JSON.stringify(e).includes('"auth":');
}

function refAction(a: Ast): string | null {
  if (!a) return null;
  const s = String(tagOf(a) || a);
  const map: Record<string, string> = {
    Cascade: "CASCADE",
    Restrict: "RESTRICT",
    SetNull: "SET NULL",
    SetDefault: "SET DEFAULT",
    NoAction: "NO ACTION",
  };
  return map[s] ?? null;
}

function checkName(ctx: PlanContext, name: string, position: number): void {
  if (isReservedName(name))
    throw new DbError(SQLSTATE.reservedName, `name "${name}" is reserved`, {
      position,
      hint: "Names beginning with sqlite_ or _cave_ belong to the database itself.",
    });
  void ctx;
}

export class DdlPlanner {
  constructor(
    readonly ctx: PlanContext,
    readonly planner: QueryPlanner,
  ) {}

  private tableScope(columns: { name: string; type: string }[]): Scope {
    const scope = new Scope(null);
    scope.add({ alias: "", emitAlias: "", columns }, 0);
    return scope;
  }

  private fk(
    ctx: PlanContext,
    columns: string[],
    ref: Ast,
    refCols: Ast[],
    onDelete: Ast,
    onUpdate: Ast,
    node: Ast,
    self: { table: string; columns: { name: string }[] },
  ): ForeignKey {
    const table = relationName(ctx, ref, node);
    const refColumns = (refCols ?? []).map((c: Ast) => identName(c));
    if (table !== self.table) {
      const info = ctx.catalog.relation(table);
      if (info?.kind !== "table")
        throw new DbError(SQLSTATE.undefinedTable, `relation "${table}" does not exist`, {
          position: ctx.positionOf(firstLoc(ref)),
        });
      for (const c of refColumns)
        if (!info.columns.some((x) => x.name === c))
          throw new DbError(
            SQLSTATE.undefinedColumn,
            `column "${c}" referenced in foreign key constraint does not exist`,
            {
              position: ctx.positionOf(firstLoc(node)),
            },
          );
    }
    return { columns, table, refColumns, onDelete: refAction(onDelete), onUpdate: refAction(onUpdate) };
  }

  column(
    def: Ast,
    tableName: string,
    allColumns: { name: string; type: string }[],
  ): { col: ColumnDef; constraints: TableConstraint[] } {
    const ctx = this.ctx;
    const name = identName(def.name);
    const position = ctx.positionOf(def.name?.span?.start);
    checkName(ctx, name, position);
    const spec = typeFromAst(def.data_type);
    const type = typeText(spec);
    const col: ColumnDef = {
      name,
      type,
      notNull: false,
      primaryKey: false,
      identity: spec.serial,
      unique: false,
      default: null,
      checks: [],
      references: null,
    };
    const constraints: TableConstraint[] = [];
    const binder = new ExprBinder(
      ctx,
      this.tableScope(allColumns),
      this.planner.place({ noAggregates: "column constraints" }),
    );
    const constBinder = new ExprBinder(
      ctx,
      new Scope(null),
      this.planner.place({ noAggregates: "DEFAULT expressions" }),
    );
    for (const o of (def.options ?? []) as Ast[]) {
      const opt = o.option;
      const t = tagOf(opt);
      const v = opt[t];
      switch (t) {
        case "NotNull":
          col.notNull = true;
          break;
        case "Null":
          break;
        case "PrimaryKey":
          col.primaryKey = true;
          col.notNull = true;
          break;
        case "Unique":
          if (v?.is_primary) {
            col.primaryKey = true;
            col.notNull = true;
          } else col.unique = true;
          break;
        case "Default": {
          let e = constBinder.bind(v);
          e = coerceLiteral(e, spec.name, ctx.positionOf(firstLoc(v)), false) ?? e;
          if (containsAuth(e)) col.authDefault = JSON.parse(storedAst(v));
          else col.default = e;
          break;
        }
        case "Check":
          col.checks.push(binder.bind(v?.expr ?? v));
          break;
        case "ForeignKey":
          col.references = this.fk(ctx, [name], v.foreign_table, v.referred_columns, v.on_delete, v.on_update, def, {
            table: tableName,
            columns: allColumns,
          });
          break;
        case "Generated":
        case "Identity":
          if (t === "Generated" && v?.generation_expr) throw featureNotSupported("generated columns", position);
          col.identity = true;
          break;
        case "Comment":
          break;
        default:
          throw featureNotSupported(`column option ${t}`, position);
      }
    }
    if (col.identity) {
      if (!isIntegerType(spec.name))
        throw new DbError(SQLSTATE.datatypeMismatch, `identity column type must be smallint, integer, or bigint`, {
          position,
        });
      col.notNull = true;
    }
    return { col, constraints };
  }

  createTable(ct: Ast): CreateTablePlan | SkipPlan {
    const ctx = this.ctx;
    const position = ctx.positionOf(firstLoc(ct.name));
    if (ct.like || ct.clone || (ct.inherits ?? []).length || ct.partition_by || ct.partition_of)
      throw featureNotSupported("this CREATE TABLE form", position);
    const table = relationName(ctx, ct.name, ct);
    checkName(ctx, table, position);
    const existing = ctx.catalog.relation(table);
    if (existing && ct.if_not_exists) return { kind: "noop", command: "CREATE TABLE" };
    if (existing) throw new DbError(SQLSTATE.duplicateTable, `relation "${table}" already exists`);
    if (ct.query) {
      const q = this.planner.query(ct.query, new Scope(null));
      if (ctx.paramTypes.length)
        throw new DbError(SQLSTATE.undefinedParameter, "there is no parameter $1", { position });
      const names = ((ct.columns ?? []) as Ast[]).map((c) => identName(c.name));
      const columns: ColumnDef[] = q.columns.map((c, i) => ({
        name: names[i] ?? c.name,
        type: c.type === "unknown" ? "text" : c.type,
        notNull: false,
        primaryKey: false,
        identity: false,
        unique: false,
        default: null,
        checks: [],
        references: null,
      }));
      const dup = columns.find((c, i) => columns.findIndex((x) => x.name === c.name) !== i);
      if (dup)
        throw new DbError(SQLSTATE.duplicateColumn, `column "${dup.name}" specified more than once`, { position });
      return { kind: "create_table", table, ifNotExists: !!ct.if_not_exists, columns, constraints: [], asQuery: q.op };
    }
    const rawCols = (ct.columns ?? []) as Ast[];
    const allColumns = rawCols.map((c) => ({ name: identName(c.name), type: typeText(typeFromAst(c.data_type)) }));
    const seen = new Set<string>();
    for (const c of allColumns) {
      if (seen.has(c.name))
        throw new DbError(SQLSTATE.duplicateColumn, `column "${c.name}" specified more than once`, { position });
      seen.add(c.name);
    }
    const columns: ColumnDef[] = [];
    const constraints: TableConstraint[] = [];
    for (const c of rawCols) {
      const r = this.column(c, table, allColumns);
      columns.push(r.col);
      constraints.push(...r.constraints);
    }
    const binder = new ExprBinder(
      ctx,
      this.tableScope(allColumns),
      this.planner.place({ noAggregates: "check constraints" }),
    );
    const colList = (list: Ast[]): string[] =>
      (list ?? []).map((x: Ast) => {
        const n = identName(x?.column?.expr?.Identifier ?? x?.expr?.Identifier ?? x);
        if (!seen.has(n))
          throw new DbError(SQLSTATE.undefinedColumn, `column "${n}" named in key does not exist`, {
            position: ctx.positionOf(firstLoc(x)),
          });
        return n;
      });
    for (const k of (ct.constraints ?? []) as Ast[]) {
      const t = tagOf(k);
      const v = k[t];
      const name = v?.name ? identName(v.name) : null;
      switch (t) {
        case "PrimaryKey": {
          const cols = colList(v.columns);
          if (columns.some((c) => c.primaryKey))
            throw new DbError(
              SQLSTATE.invalidTableDefinition,
              `multiple primary keys for table "${table}" are not allowed`,
              { position },
            );
          for (const c of columns) if (cols.includes(c.name)) c.notNull = true;
          if (cols.length === 1) {
            const c = columns.find((x) => x.name === cols[0])!;
            c.primaryKey = true;
          } else constraints.push({ kind: "primary", name, columns: cols });
          break;
        }
        case "Unique":
          constraints.push({ kind: "unique", name, columns: colList(v.columns) });
          break;
        case "ForeignKey":
          constraints.push({
            kind: "foreign",
            name,
            fk: this.fk(ctx, colList(v.columns), v.foreign_table, v.referred_columns, v.on_delete, v.on_update, k, {
              table,
              columns: allColumns,
            }),
          });
          break;
        case "Check":
          constraints.push({ kind: "check", name, expr: binder.bind(v.expr) });
          break;
        default:
          throw featureNotSupported(`table constraint ${t}`, position);
      }
    }
    if (columns.filter((c) => c.primaryKey).length > 1)
      throw new DbError(SQLSTATE.invalidTableDefinition, `multiple primary keys for table "${table}" are not allowed`, {
        position,
      });
    for (const c of columns)
      if (c.identity && !c.primaryKey)
        throw featureNotSupported(
          `identity or serial column "${c.name}" that is not the table's primary key`,
          position,
        );
    return { kind: "create_table", table, ifNotExists: !!ct.if_not_exists, columns, constraints, asQuery: null };
  }

  createIndex(ci: Ast): CreateIndexPlan | SkipPlan {
    const ctx = this.ctx;
    const position = ctx.positionOf(firstLoc(ci));
    const table = relationName(ctx, ci.table_name, ci);
    const info = isReservedName(table) ? undefined : ctx.catalog.relation(table);
    if (!info)
      throw new DbError(SQLSTATE.undefinedTable, `relation "${table}" does not exist`, {
        position: ctx.positionOf(firstLoc(ci.table_name)),
      });
    if (info.kind !== "table")
      throw new DbError(SQLSTATE.wrongObjectType, `"${info.name}" is not a table`, { position });
    if (ci.using && String(tagOf(ci.using) || ci.using).toLowerCase() !== "btree")
      throw featureNotSupported(`index method ${tagOf(ci.using) || ci.using}`, position);
    const binder = new ExprBinder(
      ctx,
      this.tableScope(info.columns),
      this.planner.place({ noAggregates: "index expressions" }),
    );
    const keys: SortKey[] = ((ci.columns ?? []) as Ast[]).map((c) => binder.sortKey(c.column ?? c));
    const where = ci.predicate ? binder.bind(ci.predicate) : null;
    let name = ci.name ? objectName(ci.name).pop()! : "";
    if (!name) {
      const cols = keys.map((k) => (k.expr.k === "col" ? k.expr.name : "expr")).join("_");
      const base = `${info.name}_${cols}_idx`;
      name = base;
      for (let i = 1; ctx.catalog.index(name) || ctx.catalog.relation(name); i++) name = `${base}${i}`;
    }
    checkName(ctx, name, position);
    if (ctx.catalog.index(name) || ctx.catalog.relation(name)) {
      if (ci.if_not_exists) return { kind: "noop", command: "CREATE INDEX" };
      throw new DbError(SQLSTATE.duplicateTable, `relation "${name}" already exists`);
    }
    return {
      kind: "create_index",
      name,
      table: info.name,
      unique: !!ci.unique,
      ifNotExists: !!ci.if_not_exists,
      keys,
      where,
    };
  }

  createView(cv: Ast): CreateViewPlan | SkipPlan {
    const ctx = this.ctx;
    const position = ctx.positionOf(firstLoc(cv.name));
    if (cv.materialized) throw featureNotSupported("materialized views", position);
    const name = relationName(ctx, cv.name, cv);
    checkName(ctx, name, position);
    const existing = ctx.catalog.relation(name);
    if (existing && cv.if_not_exists && !cv.or_replace) return { kind: "noop", command: "CREATE VIEW" };
    if (existing && !cv.or_replace) throw new DbError(SQLSTATE.duplicateTable, `relation "${name}" already exists`);
    if (existing && existing.kind !== "view")
      throw new DbError(SQLSTATE.wrongObjectType, `"${name}" is not a view`, { position });
    // The stored view reads the tables as they are; policies apply when it is used.
    const noQuals = ctx.rls.noQuals;
    ctx.rls.noQuals = true;
    let q: ReturnType<QueryPlanner["query"]>;
    try {
      q = this.planner.query(cv.query, new Scope(null));
    } finally {
      ctx.rls.noQuals = noQuals;
    }
    if (ctx.paramTypes.length) throw new DbError(SQLSTATE.undefinedParameter, "there is no parameter $1", { position });
    const names = ((cv.columns ?? []) as Ast[]).map((c) => identName(c.name ?? c));
    if (names.length > q.columns.length)
      throw new DbError(SQLSTATE.syntaxError, "CREATE VIEW specifies more column names than columns", { position });
    const columns = q.columns.map((c, i) => ({
      name: names[i] ?? c.name,
      type: c.type === "unknown" ? "text" : c.type,
    }));
    return {
      kind: "create_view",
      name,
      orReplace: !!cv.or_replace,
      ifNotExists: !!cv.if_not_exists,
      columns,
      query: q.op,
      ast: cv.query,
    };
  }

  drop(d: Ast): DropPlan {
    const ctx = this.ctx;
    const position = ctx.positionOf(firstLoc(d));
    const object = String(d.object_type).toLowerCase();
    if (object !== "table" && object !== "view" && object !== "index")
      throw featureNotSupported(`DROP ${d.object_type}`, position);
    const names: string[] = [];
    const cascaded: string[] = [];
    for (const n of d.names as Ast[]) {
      const name = relationName(ctx, n, d);
      const at = ctx.positionOf(firstLoc(n));
      if (isReservedName(name))
        throw new DbError(SQLSTATE.reservedName, `name "${name}" is reserved`, { position: at });
      if (object === "index") {
        const idx = ctx.catalog.index(name);
        if (!idx) {
          if (d.if_exists) continue;
          throw new DbError(SQLSTATE.undefinedObject, `index "${name}" does not exist`);
        }
        names.push(idx.name);
        continue;
      }
      const info: RelationInfo | undefined = ctx.catalog.relation(name);
      if (!info) {
        if (d.if_exists) continue;
        throw new DbError(SQLSTATE.undefinedTable, `${object} "${name}" does not exist`);
      }
      if (info.kind !== object)
        throw new DbError(SQLSTATE.wrongObjectType, `"${info.name}" is not a ${object}`, {
          position: at,
          hint: `Use DROP ${info.kind.toUpperCase()} to remove a ${info.kind}.`,
        });
      // Views that read this relation, directly or through other views (cave's emitter quotes
      // every name it writes, so a view's SQL names what it reads as "name").
      const views = ctx.catalog.allRelations().filter((r) => r.kind === "view");
      const dependents: RelationInfo[] = [];
      const reads = (v: RelationInfo, name: string) => v.sql.includes(`"${name.replaceAll('"', '""')}"`);
      for (let frontier = [info.name]; frontier.length; ) {
        const next = views.filter(
          (v) => v.name !== info.name && !dependents.includes(v) && frontier.some((n) => reads(v, n)),
        );
        dependents.push(...next);
        frontier = next.map((v) => v.name);
      }
      if (dependents.length && d.cascade) {
        for (const v of dependents) if (!names.includes(v.name)) cascaded.push(v.name);
      } else if (dependents.length) {
        throw new DbError("2BP01", `cannot drop ${object} ${info.name} because other objects depend on it`, {
          position: at,
          hint: `view ${dependents.map((v) => v.name).join(", ")} depends on ${object} ${info.name}. Use DROP … CASCADE to drop the dependent objects too.`,
        });
      }
      names.push(info.name);
    }
    return {
      kind: "drop",
      object,
      names,
      ifExists: !!d.if_exists,
      cascadeViews: cascaded.filter((v) => !names.includes(v)),
    };
  }

  truncate(t: Ast): TruncatePlan {
    const ctx = this.ctx;
    const position = ctx.positionOf(firstLoc(t));
    if (t.identity === "Restart") throw featureNotSupported("TRUNCATE … RESTART IDENTITY", position);
    const tables = ((t.table_names ?? []) as Ast[]).map((n) => {
      const name = relationName(ctx, n.name, n);
      const info = isReservedName(name) ? undefined : ctx.catalog.relation(name);
      if (!info)
        throw new DbError(SQLSTATE.undefinedTable, `relation "${name}" does not exist`, {
          position: ctx.positionOf(firstLoc(n)),
        });
      if (info.kind !== "table")
        throw new DbError(SQLSTATE.wrongObjectType, `"${info.name}" is not a table`, { position });
      return info.name;
    });
    return { kind: "truncate", tables };
  }

  alterTable(a: Ast): AlterTablePlan {
    const ctx = this.ctx;
    const position = ctx.positionOf(firstLoc(a.name));
    const table = relationName(ctx, a.name, a);
    const info = isReservedName(table) ? undefined : ctx.catalog.relation(table);
    if (!info) {
      if (a.if_exists) return { kind: "alter_table", table, ifExists: true, actions: [] };
      throw new DbError(SQLSTATE.undefinedTable, `relation "${table}" does not exist`, { position });
    }
    if (info.kind !== "table")
      throw new DbError(SQLSTATE.wrongObjectType, `"${info.name}" is not a table`, { position });
    const actions: AlterAction[] = [];
    const sec = { ...ctx.catalog.tableSecurity(info.name) };
    for (const op of (a.operations ?? []) as Ast[]) {
      const t = typeof op === "string" ? op : tagOf(op);
      const v = typeof op === "string" ? null : op[t];
      switch (t) {
        case "EnableRowLevelSecurity":
        case "DisableRowLevelSecurity":
        case "ForceRowLevelSecurity":
        case "NoForceRowLevelSecurity":
          if (t === "EnableRowLevelSecurity" || t === "DisableRowLevelSecurity")
            sec.enabled = t === "EnableRowLevelSecurity";
          else sec.forced = t === "ForceRowLevelSecurity";
          actions.push({ action: "rls", ...sec });
          break;
        case "AddColumn": {
          const name = identName(v.column_def.name);
          const exists = info.columns.some((c) => c.name === name);
          if (exists && !v.if_not_exists)
            throw new DbError(SQLSTATE.duplicateColumn, `column "${name}" of relation "${info.name}" already exists`);
          const all = [
            ...info.columns.map((c) => ({ name: c.name, type: c.type })),
            { name, type: typeText(typeFromAst(v.column_def.data_type)) },
          ];
          const { col } = this.column(v.column_def, info.name, all);
          if (col.primaryKey || col.unique || col.identity)
            throw featureNotSupported("adding a PRIMARY KEY, UNIQUE or identity column", position);
          if (col.notNull && !col.default && !col.authDefault)
            throw new DbError(
              SQLSTATE.notNullViolation,
              `column "${name}" of relation "${info.name}" contains null values`,
              { position },
            );
          if (!exists) actions.push({ action: "add_column", column: col, ifNotExists: !!v.if_not_exists });
          break;
        }
        case "DropColumn": {
          const list = (v.column_names ?? (v.column_name ? [v.column_name] : [])) as Ast[];
          for (const c of list) {
            const name = identName(c);
            if (!info.columns.some((x) => x.name === name)) {
              if (v.if_exists) continue;
              throw new DbError(
                SQLSTATE.undefinedColumn,
                `column "${name}" of relation "${info.name}" does not exist`,
                { position },
              );
            }
            actions.push({ action: "drop_column", column: name, ifExists: !!v.if_exists });
          }
          break;
        }
        case "RenameColumn": {
          const from = identName(v.old_column_name);
          const to = identName(v.new_column_name);
          if (!info.columns.some((x) => x.name === from))
            throw new DbError(SQLSTATE.undefinedColumn, `column "${from}" does not exist`, { position });
          if (info.columns.some((x) => x.name === to))
            throw new DbError(SQLSTATE.duplicateColumn, `column "${to}" of relation "${info.name}" already exists`);
          actions.push({ action: "rename_column", from, to });
          break;
        }
        case "RenameTable": {
          const to = relationName(ctx, v.table_name?.Table ?? v.table_name?.To ?? v.table_name, a);
          checkName(ctx, to, position);
          if (ctx.catalog.relation(to)) throw new DbError(SQLSTATE.duplicateTable, `relation "${to}" already exists`);
          actions.push({ action: "rename_table", to });
          break;
        }
        case "AddConstraint": {
          const k = v.constraint;
          if (tagOf(k) !== "Unique")
            throw featureNotSupported(
              `ALTER TABLE … ADD ${tagOf(k) === "ForeignKey" ? "FOREIGN KEY" : tagOf(k).toUpperCase()} (SQLite cannot add it to an existing table)`,
              position,
            );
          const columns = ((k.Unique.columns ?? []) as Ast[]).map((c) => {
            const n = identName(c?.column?.expr?.Identifier ?? c?.expr?.Identifier ?? c);
            if (!info.columns.some((x) => x.name === n))
              throw new DbError(SQLSTATE.undefinedColumn, `column "${n}" named in key does not exist`, { position });
            return n;
          });
          const name = k.Unique.name ? identName(k.Unique.name) : `${info.name}_${columns.join("_")}_key`;
          if (ctx.catalog.index(name) || ctx.catalog.relation(name))
            throw new DbError(SQLSTATE.duplicateTable, `relation "${name}" already exists`);
          actions.push({ action: "add_unique", name, columns });
          break;
        }
        case "DropConstraint": {
          const name = identName(v.name);
          const idx = ctx.catalog.index(name);
          if (!idx || idx.table !== info.name) {
            if (v.if_exists) break;
            throw new DbError(
              SQLSTATE.undefinedObject,
              `constraint "${name}" of relation "${info.name}" does not exist`,
              { position },
            );
          }
          actions.push({ action: "drop_index", name: idx.name });
          break;
        }
        default:
          throw featureNotSupported(`ALTER TABLE … ${t}`, position);
      }
    }
    return { kind: "alter_table", table: info.name, ifExists: !!a.if_exists, actions };
  }
}

/** CREATE / ALTER / DROP POLICY, checked as Postgres 15 checks them. */
export class PolicyPlanner {
  constructor(
    readonly ctx: PlanContext,
    readonly planner: QueryPlanner,
  ) {}

  private table(v: Ast, missingOk: boolean): RelationInfo | null {
    const ctx = this.ctx;
    const name = relationName(ctx, v.table_name, v);
    const info = isReservedName(name) ? undefined : ctx.catalog.relation(name);
    if (!info) {
      if (missingOk) return null;
      throw new DbError(SQLSTATE.undefinedTable, `relation "${name}" does not exist`);
    }
    if (info.kind !== "table") throw new DbError(SQLSTATE.wrongObjectType, `"${info.name}" is not a table`);
    return info;
  }

  private roles(to: Ast[] | null | undefined): string[] {
    if (!to?.length) return ["public"];
    return to.map((o) => {
      if (typeof o === "string") return /^public$/i.test(o) ? "public" : "postgres";
      const t = tagOf(o);
      if (t === "Ident") return identName(o.Ident);
      if (/public/i.test(t)) return "public";
      // CURRENT_USER / SESSION_USER in a policy made by the owner: the owner.
      return "postgres";
    });
  }

  /** Binds a policy expression over the table to check it now (42703, 42P01, 42804). */
  private validate(info: RelationInfo, ast: Ast, clause: "USING" | "WITH CHECK"): string {
    const ctx = this.ctx;
    const scope = new Scope(null);
    scope.add(
      { alias: info.name, emitAlias: info.name, columns: info.columns.map((c) => ({ name: c.name, type: c.type })) },
      0,
    );
    const noQuals = ctx.rls.noQuals;
    ctx.rls.noQuals = true;
    try {
      const e = new ExprBinder(ctx, scope, this.planner.place({ noAggregates: "policy expressions" })).bind(ast);
      if (ctx.paramPositions.length)
        throw new DbError(SQLSTATE.undefinedParameter, "there is no parameter $1", {
          position: ctx.paramPositions.find((p) => p !== undefined) ?? 0,
        });
      if (e.type !== "bool" && e.type !== "unknown")
        throw new DbError(
          SQLSTATE.datatypeMismatch,
          `argument of ${clause} must be type boolean, not type ${typeDisplayName(e.type.replace(/\(.*$/, ""))}`,
          {
            position: ctx.positionOf(firstLoc(ast)),
          },
        );
    } finally {
      ctx.rls.noQuals = noQuals;
    }
    return storedAst(ast);
  }

  private checkClauses(command: PolicyCommand, using: Ast | null, check: Ast | null): void {
    if (command === "insert" && using)
      throw new DbError(SQLSTATE.syntaxError, "only WITH CHECK expression allowed for INSERT");
    if ((command === "select" || command === "delete") && check)
      throw new DbError(SQLSTATE.syntaxError, "WITH CHECK cannot be applied to SELECT or DELETE");
  }

  /** A clause's expression as written in the statement, when the planner has its text. */
  private written(v: Ast, clause: "USING" | "WITH CHECK"): string | null {
    const source = this.ctx.source;
    const at = v.name?.span?.start;
    if (source === undefined || !at) return null;
    return clauseText(source, this.ctx.positionOf(at), clause);
  }

  private write(info: RelationInfo, p: Omit<PolicyInfo, "table">): ObjectsPlan["writes"][number] {
    const data = {
      permissive: p.permissive,
      command: p.command,
      roles: p.roles,
      using: p.using,
      check: p.check,
      usingSql: p.usingSql ?? null,
      checkSql: p.checkSql ?? null,
    };
    return { kind: "policy", rel: info.name, name: p.name, data: JSON.stringify(data) };
  }

  create(v: Ast): ObjectsPlan {
    const info = this.table(v, false)!;
    const name = identName(v.name);
    if (this.ctx.catalog.policies(info.name).some((p) => p.name === name))
      throw new DbError(SQLSTATE.duplicateObject, `policy "${name}" for table "${info.name}" already exists`);
    const command = String(v.command ?? "All").toLowerCase() as PolicyCommand;
    if (!["all", "select", "insert", "update", "delete"].includes(command))
      throw featureNotSupported(`policies FOR ${v.command}`);
    this.checkClauses(command, v.using ?? null, v.with_check ?? null);
    const using = v.using ? JSON.parse(this.validate(info, v.using, "USING")) : null;
    const check = v.with_check ? JSON.parse(this.validate(info, v.with_check, "WITH CHECK")) : null;
    const permissive = String(v.policy_type ?? "Permissive") !== "Restrictive";
    const usingSql = using ? this.written(v, "USING") : null;
    const checkSql = check ? this.written(v, "WITH CHECK") : null;
    return {
      kind: "objects",
      command: "CREATE POLICY",
      writes: [
        this.write(info, { name, permissive, command, roles: this.roles(v.to), using, check, usingSql, checkSql }),
      ],
    };
  }

  alter(v: Ast): ObjectsPlan {
    const info = this.table(v, false)!;
    const name = identName(v.name);
    const policy = this.ctx.catalog.policies(info.name).find((p) => p.name === name);
    if (!policy)
      throw new DbError(SQLSTATE.undefinedObject, `policy "${name}" for table "${info.name}" does not exist`);
    const op = v.operation;
    const t = tagOf(op);
    if (t === "Rename") {
      const to = identName(op.Rename.new_name);
      if (this.ctx.catalog.policies(info.name).some((p) => p.name === to))
        throw new DbError(SQLSTATE.duplicateObject, `policy "${to}" for table "${info.name}" already exists`);
      return {
        kind: "objects",
        command: "ALTER POLICY",
        writes: [{ kind: "policy", rel: info.name, name, data: null }, this.write(info, { ...policy, name: to })],
      };
    }
    if (t !== "Apply") throw featureNotSupported("this ALTER POLICY form");
    const a = op.Apply;
    this.checkClauses(policy.command, a.using ?? null, a.with_check ?? null);
    const next = {
      ...policy,
      roles: a.to?.length ? this.roles(a.to) : policy.roles,
      using: a.using ? JSON.parse(this.validate(info, a.using, "USING")) : policy.using,
      check: a.with_check ? JSON.parse(this.validate(info, a.with_check, "WITH CHECK")) : policy.check,
      usingSql: a.using ? this.written(v, "USING") : (policy.usingSql ?? null),
      checkSql: a.with_check ? this.written(v, "WITH CHECK") : (policy.checkSql ?? null),
    };
    return { kind: "objects", command: "ALTER POLICY", writes: [this.write(info, next)] };
  }

  drop(v: Ast): ObjectsPlan {
    const info = this.table(v, !!v.if_exists);
    const name = identName(v.name);
    if (!info) return { kind: "objects", command: "DROP POLICY", writes: [] };
    if (!this.ctx.catalog.policies(info.name).some((p) => p.name === name)) {
      if (v.if_exists) return { kind: "objects", command: "DROP POLICY", writes: [] };
      throw new DbError(SQLSTATE.undefinedObject, `policy "${name}" for table "${info.name}" does not exist`);
    }
    return { kind: "objects", command: "DROP POLICY", writes: [{ kind: "policy", rel: info.name, name, data: null }] };
  }
}

/**
 * The text inside `USING ( … )` or `WITH CHECK ( … )` of the statement in `source`, scanning
 * from the 1-based code-point offset `from` (the policy's name) to the statement's end. Quotes,
 * dollar quotes, comments and nested parentheses are skipped over, so only the clause keyword
 * at the statement's own level counts. null when it is not found.
 */
export function clauseText(source: string, from: number, clause: "USING" | "WITH CHECK"): string | null {
  const chars = Array.from(source);
  const words = clause.split(" ");
  let depth = 0;
  let i = Math.max(0, from - 1);
  const isWord = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$]/.test(c);
  const wordAt = (k: number, w: string) =>
    chars.slice(k, k + w.length).join("").toUpperCase() === w && !isWord(chars[k - 1]) && !isWord(chars[k + w.length]);
  /** Index past a quoted or commented span starting at k, or k when there is none. */
  const skip = (k: number): number => {
    const c = chars[k];
    if (c === "'" || c === '"') {
      for (let j = k + 1; j < chars.length; j++) if (chars[j] === c) {
        if (chars[j + 1] === c) j++;
        else return j + 1;
      }
      return chars.length;
    }
    if (c === "-" && chars[k + 1] === "-") {
      const nl = chars.indexOf("\n", k);
      return nl < 0 ? chars.length : nl + 1;
    }
    if (c === "/" && chars[k + 1] === "*") {
      for (let j = k + 2; j < chars.length - 1; j++) if (chars[j] === "*" && chars[j + 1] === "/") return j + 2;
      return chars.length;
    }
    if (c === "$") {
      const tag = /^\$[A-Za-z_]*\$/.exec(chars.slice(k, k + 64).join(""))?.[0];
      if (tag) {
        for (let j = k + tag.length; j + tag.length <= chars.length; j++)
          if (chars.slice(j, j + tag.length).join("") === tag) return j + tag.length;
        return chars.length;
      }
    }
    return k;
  };
  while (i < chars.length) {
    const next = skip(i);
    if (next !== i) {
      i = next;
      continue;
    }
    const c = chars[i] as string;
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === ";" && depth === 0) return null;
    else if (depth === 0 && wordAt(i, words[0] as string)) {
      let k = i + (words[0] as string).length;
      let ok = true;
      for (const w of words.slice(1)) {
        while (k < chars.length && /\s/.test(chars[k] as string)) k++;
        if (!wordAt(k, w)) ok = false;
        k += w.length;
      }
      while (k < chars.length && /\s/.test(chars[k] as string)) k++;
      if (ok && chars[k] === "(") {
        let d = 0;
        for (let j = k; j < chars.length; ) {
          const after = skip(j);
          if (after !== j) {
            j = after;
            continue;
          }
          if (chars[j] === "(") d++;
          else if (chars[j] === ")" && --d === 0) return chars.slice(k + 1, j).join("").trim();
          j++;
        }
        return null;
      }
    }
    i++;
  }
  return null;
}
