/** The mluvii payload shapes (schemas/providers/mluvii/*.avsc) and the check of a body against one. */
import { payloadSchemas } from '../payload-schemas.js';
import type { MluviiSchemaName } from './table.js';

const schemas = payloadSchemas<MluviiSchemaName>('mluvii', 'mluvii');

export const mluviiSchemaJson = schemas.json;
export const checkShape = schemas.check;
