/** The Jifeline payload shapes (schemas/providers/jifeline/*.avsc) and the check of a body against one. */
import { payloadSchemas } from '../payload-schemas.js';
import type { JifelineSchemaName } from './table.js';

const schemas = payloadSchemas<JifelineSchemaName>('jifeline', 'Jifeline');

export const jifelineSchemaJson = schemas.json;
export const checkShape = schemas.check;
