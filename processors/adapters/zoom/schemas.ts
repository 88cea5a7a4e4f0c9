/** The Zoom payload shapes (schemas/providers/zoom/*.avsc) and the check of a body against one. */
import { payloadSchemas } from '../payload-schemas.js';
import type { ZoomSchemaName } from './table.js';

const schemas = payloadSchemas<ZoomSchemaName>('zoom', 'Zoom');

export const zoomSchemaJson = schemas.json;
export const checkShape = schemas.check;
